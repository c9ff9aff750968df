//! Framework authentication, as Mesos' `--authenticate_frameworks` with a
//! `--credentials` file: the file is JSON,
//! `{"credentials": [{"principal": "...", "secret": "..."}]}`, and every
//! request to the scheduler API (and to the fault endpoints) must carry HTTP
//! Basic credentials of one of its principals, else `401` with a
//! `WWW-Authenticate` challenge. A SUBSCRIBE whose `FrameworkInfo.principal`
//! names another principal than the authenticated one is refused.
//!
//! A cluster bound to anything but loopback must authenticate frameworks:
//! its master runs shell commands for whoever subscribes.

use std::fmt;
use std::path::Path;

use base64::Engine as _;

use crate::error::Error;

/// The realm of the `WWW-Authenticate` challenge (Mesos': `mesos`).
pub const REALM: &str = "mesos";

/// The principals frameworks may authenticate as, with their secrets.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    credentials: Vec<Credential>,
}

#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Credential {
    principal: String,
    secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let principals: Vec<&str> = self.principals().collect();
        f.debug_struct("Credentials")
            .field("principals", &principals)
            .finish_non_exhaustive()
    }
}

/// Why a request's credentials were not accepted (the answer is a 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("Missing 'Authorization' header")]
    Missing,
    /// Not HTTP Basic, or not decodable as `principal:secret`.
    #[error("Malformed 'Authorization' header")]
    Malformed,
    /// Unknown principal or wrong secret.
    #[error("Authentication failed")]
    Refused,
}

impl Credentials {
    /// Credentials from Mesos' JSON format; at least one, principals unique
    /// and non-empty.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let credentials: Self = serde_json::from_str(text)
            .map_err(|error| Error::InvalidConfig(format!("credentials: {error}")))?;
        if credentials.credentials.is_empty() {
            return Err(Error::InvalidConfig("credentials: none given".into()));
        }
        for (index, credential) in credentials.credentials.iter().enumerate() {
            if credential.principal.is_empty() || credential.principal.contains(':') {
                return Err(Error::InvalidConfig(format!(
                    "credentials: principal {:?} must be non-empty and without ':'",
                    credential.principal
                )));
            }
            if credentials.credentials[..index]
                .iter()
                .any(|earlier| earlier.principal == credential.principal)
            {
                return Err(Error::InvalidConfig(format!(
                    "credentials: principal {:?} given twice",
                    credential.principal
                )));
            }
        }
        Ok(credentials)
    }

    /// Reads a credentials file (a path, or `file://` and a path, as Mesos
    /// takes it).
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let path = path
            .to_str()
            .and_then(|text| text.strip_prefix("file://"))
            .map_or(path, Path::new);
        let text = std::fs::read_to_string(path).map_err(|error| {
            Error::InvalidConfig(format!("credentials file {}: {error}", path.display()))
        })?;
        Self::from_json(&text)
    }

    /// The principals, in file order.
    pub fn principals(&self) -> impl Iterator<Item = &str> {
        self.credentials.iter().map(|c| c.principal.as_str())
    }

    /// The principal an `Authorization` header value authenticates.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<String, AuthError> {
        let value = authorization.ok_or(AuthError::Missing)?;
        let (scheme, encoded) = value.trim().split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(AuthError::Malformed);
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| AuthError::Malformed)?;
        let decoded = String::from_utf8(decoded).map_err(|_| AuthError::Malformed)?;
        let (principal, secret) = decoded.split_once(':').ok_or(AuthError::Malformed)?;
        // Every secret is compared (in constant time for its length), so the
        // answer's timing does not tell which principals exist.
        let mut found = false;
        for credential in &self.credentials {
            let matches = same(credential.secret.as_bytes(), secret.as_bytes());
            found |= matches & (credential.principal == principal);
        }
        if found {
            Ok(principal.to_owned())
        } else {
            Err(AuthError::Refused)
        }
    }
}

/// Whether `a == b`, looking at every byte when the lengths agree.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(pair: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    const FILE: &str = r#"{"credentials": [
        {"principal": "miner", "secret": "s3cret"},
        {"principal": "ops", "secret": "other"}
    ]}"#;

    #[test]
    fn basic_credentials_of_a_listed_principal_pass() {
        let credentials = Credentials::from_json(FILE).unwrap();
        assert_eq!(
            credentials.principals().collect::<Vec<_>>(),
            ["miner", "ops"]
        );
        assert_eq!(
            credentials.authenticate(Some(&basic("miner:s3cret"))),
            Ok("miner".to_owned())
        );
        assert_eq!(
            credentials.authenticate(Some(&basic("ops:other"))),
            Ok("ops".to_owned())
        );
        // A secret with ':' in it splits at the first one.
        let colon = Credentials::from_json(r#"{"credentials":[{"principal":"p","secret":"a:b"}]}"#)
            .unwrap();
        assert_eq!(colon.authenticate(Some(&basic("p:a:b"))), Ok("p".into()));
    }

    #[test]
    fn everything_else_is_refused() {
        let credentials = Credentials::from_json(FILE).unwrap();
        assert_eq!(credentials.authenticate(None), Err(AuthError::Missing));
        for (header, error) in [
            (basic("miner:wrong"), AuthError::Refused),
            (basic("miner:other"), AuthError::Refused),
            (basic("nobody:s3cret"), AuthError::Refused),
            (basic("miner:s3cre"), AuthError::Refused),
            (basic("miner"), AuthError::Malformed),
            ("Bearer abc".to_owned(), AuthError::Malformed),
            ("Basic !!!".to_owned(), AuthError::Malformed),
            ("Basic".to_owned(), AuthError::Malformed),
        ] {
            assert_eq!(
                credentials.authenticate(Some(&header)),
                Err(error),
                "{header}"
            );
        }
    }

    #[test]
    fn bad_files_are_configuration_errors() {
        for text in [
            "",
            "[]",
            r#"{"credentials": []}"#,
            r#"{"credentials": [{"principal": "a"}]}"#,
            r#"{"credentials": [{"principal": "", "secret": "s"}]}"#,
            r#"{"credentials": [{"principal": "a:b", "secret": "s"}]}"#,
            r#"{"credentials": [{"principal": "a", "secret": "s"}, {"principal": "a", "secret": "t"}]}"#,
            r#"{"credentials": [{"principal": "a", "secret": "s", "extra": 1}]}"#,
        ] {
            assert!(
                matches!(Credentials::from_json(text), Err(Error::InvalidConfig(_))),
                "{text}"
            );
        }
        let missing = Credentials::from_file(Path::new("file:///nonexistent/credentials.json"));
        assert!(
            matches!(missing, Err(Error::InvalidConfig(message)) if message.contains("/nonexistent/credentials.json"))
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let credentials = Credentials::from_json(FILE).unwrap();
        let debug = format!("{credentials:?}");
        assert!(
            debug.contains("miner") && !debug.contains("s3cret"),
            "{debug}"
        );
    }
}
