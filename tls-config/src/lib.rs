//! The rustls client configuration behind every `https://` URL the workspace's programs call
//! (Mesos masters and agents, alert webhooks): ring as the crypto provider, Mozilla's roots
//! from `webpki-roots` (compiled in, so no system certificate store is needed, as in the
//! FROM-scratch images), plus the CA certificates of a PEM file for private certificates.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

#[cfg(feature = "testing")]
pub mod testing;

/// Why no client configuration could be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// The CA file cannot be read, holds no certificate, or one is unusable.
    #[error("{path}: {reason}")]
    CaFile {
        /// The CA file given.
        path: PathBuf,
        /// What went wrong reading or using it.
        reason: String,
    },
    /// rustls refused the protocol versions (not expected with ring).
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

/// A client configuration trusting the webpki roots and the certificates in `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TlsConfigError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(ca_file) = ca_file {
        for certificate in read_certificates(ca_file)? {
            roots
                .add(certificate)
                .map_err(|error| ca_error(ca_file, format!("CA certificate unusable: {error}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsConfigError::Rustls(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn ca_error(path: &Path, reason: String) -> TlsConfigError {
    TlsConfigError::CaFile {
        path: path.to_owned(),
        reason,
    }
}

/// Every certificate of a PEM file; at least one.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| ca_error(path, error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| ca_error(path, error.to_string()))?;
    if certificates.is_empty() {
        return Err(ca_error(path, "no PEM certificate in the file".into()));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn a_ca_file_adds_its_certificate_to_the_roots() {
        let certified = crate::testing::self_signed();
        let mut pem = tempfile::NamedTempFile::new().unwrap();
        pem.write_all(certified.pem.as_bytes()).unwrap();
        let config = client_config(Some(pem.path())).unwrap();
        assert!(config.alpn_protocols.is_empty());
        client_config(None).expect("the built-in roots alone");
    }

    #[test]
    fn a_ca_file_without_certificates_is_an_error_naming_it() {
        let mut empty = tempfile::NamedTempFile::new().unwrap();
        empty.write_all(b"not a certificate\n").unwrap();
        let error = client_config(Some(empty.path())).unwrap_err().to_string();
        assert!(
            error.contains(&empty.path().display().to_string()),
            "{error}"
        );
        assert!(error.contains("no PEM certificate"), "{error}");
        let missing = client_config(Some(Path::new("/nonexistent/ca.pem")))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
    }
}
