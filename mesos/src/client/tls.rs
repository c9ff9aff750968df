//! The rustls client configuration behind `https://` endpoints: the workspace's one
//! configuration (`tls-config`: ring, Mozilla's roots, a CA file), its errors as
//! [`ClientError::Tls`].

use std::path::Path;

use super::ClientError;

/// A client configuration trusting the webpki roots and the certificates in
/// `ca_file`.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, ClientError> {
    tls_config::client_config(ca_file).map_err(|error| ClientError::Tls(error.to_string()))
}
