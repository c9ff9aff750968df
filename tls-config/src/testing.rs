//! Test support (feature `testing`): a fresh self-signed certificate for `127.0.0.1` and
//! `localhost`, as a rustls server configuration and as PEM for a client's CA file.

use std::sync::Arc;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A server configuration with a new self-signed certificate, and that certificate.
#[derive(Debug)]
pub struct SelfSigned {
    /// A rustls server configuration presenting the certificate.
    pub server: rustls::ServerConfig,
    /// The certificate, PEM-encoded.
    pub pem: String,
}

/// A new self-signed certificate for `127.0.0.1` and `localhost` (ring, safe defaults).
pub fn self_signed() -> SelfSigned {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("rcgen makes a self-signed certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("a key that matches its certificate");
    SelfSigned {
        server,
        pem: certified.cert.pem(),
    }
}
