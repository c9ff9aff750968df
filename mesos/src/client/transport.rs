//! The HTTP plumbing shared by the scheduler and executor clients: POSTing an
//! encoded call with its `Content-Type` and `Accept`, authentication headers,
//! following `307 Temporary Redirect` to the leading master, and turning
//! unwanted statuses into [`ClientError`]s. `https://` goes through rustls
//! when the `tls` feature is on.
//!
//! Credentials only go where they were meant to: `Authorization` is sent to
//! the origins (scheme, host, port) of the configured endpoints and to no
//! other host a redirect names, and a redirect from `https` to `http` is
//! refused outright (it would carry the call, and any secret in it, in the
//! clear).

use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tracing::debug;

use super::{Auth, ClientConfig, ClientError};
use crate::ContentType;

#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "tls"))]
type Connector = HttpConnector;

/// URI schemes the transport speaks.
#[cfg(feature = "tls")]
const SCHEMES: &[&str] = &["http", "https"];
#[cfg(not(feature = "tls"))]
const SCHEMES: &[&str] = &["http"];

/// Header naming the scheduler's subscription on every non-SUBSCRIBE call.
pub const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";

/// How much of an error response body is kept.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Where a URI points for the same-origin rule: scheme, host (lower case)
/// and port (the scheme's default when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    pub(crate) fn of(uri: &Uri) -> Self {
        let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let port = uri.port_u16().or(match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        Self {
            host: uri.host().unwrap_or("").to_ascii_lowercase(),
            scheme,
            port,
        }
    }
}

/// A pooled HTTP/1.1 client plus our configuration; cheap to clone.
#[derive(Clone)]
pub(crate) struct Transport {
    client: Client<Connector, Full<Bytes>>,
    config: ClientConfig,
    /// The origins credentials may be sent to: the configured endpoints'.
    trusted: Vec<Origin>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A transport sending credentials only to the origins of `endpoints`.
    pub(crate) fn new(config: ClientConfig, endpoints: &[Uri]) -> Result<Self, ClientError> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(config.connect_timeout));
        http.set_nodelay(true);
        #[cfg(feature = "tls")]
        let connector = {
            http.enforce_http(false);
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(super::tls::client_config(config.ca_file.as_deref())?)
                .https_or_http()
                .enable_http1()
                .wrap_connector(http)
        };
        #[cfg(not(feature = "tls"))]
        let connector = {
            if let Some(ca_file) = &config.ca_file {
                return Err(ClientError::Tls(format!(
                    "a CA file ({}) needs the mesos crate's `tls` feature",
                    ca_file.display()
                )));
            }
            http
        };
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let trusted = endpoints.iter().map(Origin::of).collect();
        Ok(Self {
            client,
            config,
            trusted,
        })
    }

    pub(crate) fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// What calls are sent as and events asked for.
    pub(crate) fn content_type(&self) -> ContentType {
        self.config.content_type
    }

    /// The encoding of a 2xx answer's body: what its `Content-Type` names,
    /// else what we asked for.
    pub(crate) fn answer_type<B>(&self, response: &Response<B>) -> ContentType {
        response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(ContentType::from_mime)
            .unwrap_or(self.config.content_type)
    }

    /// POSTs `body` to `endpoint`, following redirects. Returns the URI that
    /// finally answered and its (2xx) response; other statuses are errors.
    pub(crate) async fn post(
        &self,
        endpoint: &Uri,
        body: Bytes,
        stream_id: Option<&str>,
    ) -> Result<(Uri, Response<Incoming>), ClientError> {
        let mut uri = endpoint.clone();
        for _ in 0..=self.config.max_redirects {
            let send_auth = self.trusts(&uri);
            let request = self.build_request(&uri, body.clone(), stream_id, send_auth)?;
            let response =
                tokio::time::timeout(self.config.request_timeout, self.client.request(request))
                    .await
                    .map_err(|_| ClientError::Timeout(self.config.request_timeout))??;

            let status = response.status();
            if status == StatusCode::TEMPORARY_REDIRECT || status == StatusCode::PERMANENT_REDIRECT
            {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .ok_or_else(|| ClientError::BadRedirect(String::new()))?;
                let next = resolve_location(&uri, location)?;
                if is_downgrade(&uri, &next) {
                    return Err(ClientError::InsecureRedirect {
                        from: uri.to_string(),
                        to: next.to_string(),
                    });
                }
                debug!(from = %uri, to = %next, "following redirect");
                uri = next;
                continue;
            }
            if status.is_success() {
                return Ok((uri, response));
            }
            let mut text = read_error_body(response).await;
            if status == StatusCode::UNAUTHORIZED && !send_auth && self.config.auth.is_some() {
                text = format!(
                    "{text} (credentials were not sent to {uri}: it is not a configured endpoint)"
                );
            }
            debug!(%uri, %status, body = %text, "Mesos refused the call");
            return Err(ClientError::from_status(status, text));
        }
        Err(ClientError::TooManyRedirects(self.config.max_redirects))
    }

    /// Whether credentials may go to `uri`: one of the configured origins.
    fn trusts(&self, uri: &Uri) -> bool {
        self.trusted.contains(&Origin::of(uri))
    }

    fn build_request(
        &self,
        uri: &Uri,
        body: Bytes,
        stream_id: Option<&str>,
        send_auth: bool,
    ) -> Result<Request<Full<Bytes>>, ClientError> {
        check_scheme(uri.scheme_str().unwrap_or(""), &uri.to_string())?;
        let media_type = self.config.content_type.mime();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(CONTENT_TYPE, media_type)
            .header(ACCEPT, media_type);
        if let Some(stream_id) = stream_id {
            request = request.header(STREAM_ID_HEADER, header_value(stream_id)?);
        }
        if let Some(auth) = self.config.auth.as_ref().filter(|_| send_auth) {
            request = request.header(AUTHORIZATION, header_value(&authorization(auth))?);
        }
        request
            .body(Full::new(body))
            .map_err(|error| ClientError::InvalidEndpoint {
                endpoint: uri.to_string(),
                reason: error.to_string(),
            })
    }
}

/// Refuses schemes the transport does not speak (`https` without `tls`).
fn check_scheme(scheme: &str, endpoint: &str) -> Result<(), ClientError> {
    if SCHEMES.contains(&scheme) {
        return Ok(());
    }
    let reason = if scheme == "https" {
        "https:// needs the mesos crate's `tls` feature".to_owned()
    } else {
        format!(
            "unsupported scheme {scheme:?} (use {})",
            SCHEMES.join(" or ")
        )
    };
    Err(ClientError::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason,
    })
}

fn header_value(value: &str) -> Result<HeaderValue, ClientError> {
    HeaderValue::from_str(value)
        .map_err(|_| ClientError::InvalidCall(format!("{value:?} is not a valid header value")))
}

/// Whether going from `from` to `to` leaves TLS behind.
fn is_downgrade(from: &Uri, to: &Uri) -> bool {
    let https = |uri: &Uri| {
        uri.scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("https"))
    };
    https(from) && !https(to)
}

/// The `Authorization` header value for `auth`.
fn authorization(auth: &Auth) -> String {
    match auth {
        Auth::Basic { principal, secret } => {
            let pair = format!("{principal}:{secret}");
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        }
        Auth::Bearer(token) => format!("Bearer {token}"),
    }
}

/// Where a redirect points, relative to the URI that answered it. Mesos
/// masters answer with a scheme-relative `//host:port/path`; absolute URIs
/// and absolute paths are accepted too. A Location without a path keeps
/// the original path.
pub(crate) fn resolve_location(base: &Uri, location: &str) -> Result<Uri, ClientError> {
    let bad = || ClientError::BadRedirect(location.to_owned());
    let scheme = base.scheme_str().unwrap_or("http");
    let absolute = if location.starts_with("//") {
        format!("{scheme}:{location}")
    } else if location.starts_with('/') {
        let authority = base.authority().ok_or_else(bad)?;
        format!("{scheme}://{authority}{location}")
    } else {
        location.to_owned()
    };
    let uri: Uri = absolute.parse().map_err(|_| bad())?;
    if uri.scheme().is_none() || uri.authority().is_none() {
        return Err(bad());
    }
    let has_path = uri
        .path_and_query()
        .is_some_and(|path| path.as_str() != "/");
    if has_path {
        return Ok(uri);
    }
    let mut parts = uri.into_parts();
    parts.path_and_query = base.path_and_query().cloned();
    Uri::from_parts(parts).map_err(|_| bad())
}

/// Longest body of a call's synchronous answer (`scheduler::Response`).
const MAX_RESPONSE_BODY: usize = 16 << 20;

/// The body of a call's `200 OK` answer, bounded in size.
pub(super) async fn read_response_body(response: Response<Incoming>) -> Result<Bytes, ClientError> {
    Limited::new(response.into_body(), MAX_RESPONSE_BODY)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|error| ClientError::InvalidEvent(format!("the call's answer: {error}")))
}

/// The body of an error response as text, bounded in size.
async fn read_error_body(response: Response<Incoming>) -> String {
    match Limited::new(response.into_body(), MAX_ERROR_BODY)
        .collect()
        .await
    {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes())
            .trim()
            .to_owned(),
        Err(error) => format!("<unreadable body: {error}>"),
    }
}

/// `{scheme}://{base}{path}` from "host:port" (plain HTTP),
/// "http(s)://host:port" or "http(s)://host:port/prefix"; a base already
/// ending in `path` is kept.
pub(crate) fn endpoint_uri(base: &str, path: &str) -> Result<Uri, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidEndpoint {
        endpoint: base.to_owned(),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = base
        .trim()
        .split_once("://")
        .unwrap_or(("http", base.trim()));
    let scheme = scheme.to_ascii_lowercase();
    check_scheme(&scheme, base)?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err(invalid("no host"));
    }
    let full = if rest.ends_with(path) {
        format!("{scheme}://{rest}")
    } else {
        format!("{scheme}://{rest}{path}")
    };
    let uri: Uri = full.parse().map_err(|_| invalid("not a URI"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> Uri {
        text.parse().unwrap()
    }

    #[test]
    fn resolves_scheme_relative_locations() {
        let base = uri("http://10.0.0.1:5050/api/v1/scheduler");
        assert_eq!(
            resolve_location(&base, "//10.0.0.2:5050/api/v1/scheduler").unwrap(),
            uri("http://10.0.0.2:5050/api/v1/scheduler")
        );
        // Without a path the original one is kept.
        assert_eq!(
            resolve_location(&base, "//leader.example:5050").unwrap(),
            uri("http://leader.example:5050/api/v1/scheduler")
        );
    }

    #[test]
    fn resolves_absolute_locations_and_paths() {
        let base = uri("http://10.0.0.1:5050/api/v1/scheduler");
        assert_eq!(
            resolve_location(&base, "http://m2:5051/master/api/v1/scheduler").unwrap(),
            uri("http://m2:5051/master/api/v1/scheduler")
        );
        assert_eq!(
            resolve_location(&base, "/master/api/v1/scheduler").unwrap(),
            uri("http://10.0.0.1:5050/master/api/v1/scheduler")
        );
    }

    #[test]
    fn rejects_unusable_locations() {
        let base = uri("http://10.0.0.1:5050/api/v1/scheduler");
        for location in ["", "api/v1/scheduler", "http://", "//"] {
            assert!(
                matches!(
                    resolve_location(&base, location),
                    Err(ClientError::BadRedirect(_))
                ),
                "{location:?}"
            );
        }
    }

    #[test]
    fn builds_endpoints_from_addresses() {
        let path = "/api/v1/scheduler";
        for base in [
            "127.0.0.1:5050",
            "http://127.0.0.1:5050",
            "http://127.0.0.1:5050/",
            "http://127.0.0.1:5050/api/v1/scheduler",
        ] {
            assert_eq!(
                endpoint_uri(base, path).unwrap(),
                uri("http://127.0.0.1:5050/api/v1/scheduler"),
                "{base}"
            );
        }
        assert_eq!(
            endpoint_uri("http://gateway/mesos", path).unwrap(),
            uri("http://gateway/mesos/api/v1/scheduler")
        );
        let https = endpoint_uri("HTTPS://master:5050", path);
        if cfg!(feature = "tls") {
            assert_eq!(https.unwrap(), uri("https://master:5050/api/v1/scheduler"));
        } else {
            assert!(matches!(https, Err(ClientError::InvalidEndpoint { .. })));
        }
        for bad in ["", "ftp://master:21", "http://", "http:///x", "a b:1"] {
            assert!(
                matches!(
                    endpoint_uri(bad, path),
                    Err(ClientError::InvalidEndpoint { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let origin = |text: &str| Origin::of(&uri(text));
        assert_eq!(
            origin("http://Master:5050/api/v1/scheduler"),
            origin("http://master:5050/other")
        );
        assert_eq!(origin("http://m/x"), origin("http://m:80/y"));
        assert_eq!(origin("https://m/x"), origin("https://m:443/y"));
        assert_ne!(origin("http://m:5050/x"), origin("https://m:5050/x"));
        assert_ne!(origin("http://m:5050/x"), origin("http://m:5051/x"));
        assert_ne!(origin("http://m:5050/x"), origin("http://evil:5050/x"));
    }

    #[test]
    fn downgrades_are_https_to_http() {
        assert!(is_downgrade(&uri("https://a/x"), &uri("http://a/x")));
        assert!(is_downgrade(&uri("HTTPS://a/x"), &uri("http://b/x")));
        assert!(!is_downgrade(&uri("http://a/x"), &uri("https://b/x")));
        assert!(!is_downgrade(&uri("https://a/x"), &uri("https://b/x")));
        assert!(!is_downgrade(&uri("http://a/x"), &uri("http://b/x")));
    }

    #[test]
    fn authorization_headers() {
        let basic = Auth::Basic {
            principal: "miner".into(),
            secret: "s3cret".into(),
        };
        // base64("miner:s3cret")
        assert_eq!(authorization(&basic), "Basic bWluZXI6czNjcmV0");
        assert_eq!(authorization(&Auth::Bearer("tok".into())), "Bearer tok");
    }
}
