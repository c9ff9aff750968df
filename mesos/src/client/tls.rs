//! The rustls client configuration behind `https://` endpoints: ring as the
//! crypto provider, Mozilla's roots from `webpki-roots` (compiled in, so no
//! system certificate store is needed), plus the CA certificates of a PEM
//! file for clusters with private certificates.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use super::ClientError;

/// A client configuration trusting the webpki roots and the certificates in
/// `ca_file`.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, ClientError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(ca_file) = ca_file {
        for certificate in read_certificates(ca_file)? {
            roots.add(certificate).map_err(|error| {
                ClientError::Tls(format!(
                    "CA certificate in {} unusable: {error}",
                    ca_file.display()
                ))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| ClientError::Tls(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Every certificate of a PEM file; at least one.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let unreadable =
        |error: &dyn std::fmt::Display| ClientError::Tls(format!("{}: {error}", path.display()));
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| unreadable(&error))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| unreadable(&error))?;
    if certificates.is_empty() {
        return Err(unreadable(&"no PEM certificate in the file"));
    }
    Ok(certificates)
}
