//! Upstream: the proxy's client for the node's JSON-RPC interface.
//!
//! JSON-RPC 1.0 over HTTP POST with basic auth, as Bitcoin Core (and the regtest node used in
//! tests) serves it. Envelopes are `jsonrpc-core` types: requests are sent as a
//! [`jsonrpc_core::MethodCall`] without a `jsonrpc` version, and answers (which in 1.0 carry
//! both `result` and `error`) are read into a [`jsonrpc_core::Output`].
//!
//! Credentials come from the node's cookie file (`<datadir>/<chain>/.cookie`, `user:password`,
//! re-read on every call so a node restart is picked up) or from a user and password the caller
//! got from its environment or config file ([`Auth`]). Never from the command line, where other
//! local users could read them.
//!
//! The methods the proxy needs are typed ([`NodeClient::get_block_template`],
//! [`NodeClient::submit_block`], ...); [`NodeClient::call`] reaches any other. Failures are
//! [`UpstreamError`]s that say whether to retry (node down, warming up) or to give up.
//!
//! The client bounds what it asks of the node. Bitcoin Core serves RPC from a fixed set of
//! threads (`-rpcthreads`, 16 by default) behind a bounded queue (`-rpcworkqueue`, 64), and a
//! longpoll `getblocktemplate` keeps its thread until the tip changes, even when the client
//! has gone away. So at most [`MAX_CONCURRENT_CALLS`] ordinary calls run at once (the others
//! wait for a permit), at most one longpoll runs at once (a second waits for the first), and
//! the HTTP connection pool keeps no more idle connections than that. The template rules sent
//! follow the node's chain ([`NodeClient::with_network`], [`template_rules`]).

mod error;
#[cfg(test)]
pub(crate) mod fake;
mod types;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bitcoin::consensus::encode;
use bitcoin::{Block, BlockHash, Network};
use jsonrpc_core::{Id, MethodCall, Output, Params};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

pub use error::{rpc_code, UpstreamError};
pub use types::{
    chain_network, template_rules, BlockHeaderInfo, BlockTemplate, BlockchainInfo,
    SubmitBlockOutcome, TemplateTransaction,
};

/// Default timeout of an ordinary call.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default timeout of a longpoll `getblocktemplate`: longer than a block interval would be
/// pointless (the caller re-polls), shorter would make needless reconnects.
pub const DEFAULT_LONGPOLL_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// Most ordinary (non-longpoll) calls one client has in flight at once; well below Core's
/// 16 RPC threads, so a longpoll, another client and the operator's `bitcoin-cli` still fit.
pub const MAX_CONCURRENT_CALLS: usize = 4;

/// How to authenticate to the node.
#[derive(Clone)]
pub enum Auth {
    /// A user and password (from the environment or a config file, never argv).
    UserPass {
        /// RPC user.
        user: String,
        /// RPC password.
        password: String,
    },
    /// The node's cookie file, `user:password` on one line.
    CookieFile(PathBuf),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::UserPass { user, .. } => f
                .debug_struct("UserPass")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            Auth::CookieFile(p) => f.debug_tuple("CookieFile").field(p).finish(),
        }
    }
}

impl Auth {
    /// The user and password to send now.
    pub fn credentials(&self) -> Result<(String, String), UpstreamError> {
        match self {
            Auth::UserPass { user, password } => Ok((user.clone(), password.clone())),
            Auth::CookieFile(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| UpstreamError::Cookie {
                        path: path.clone(),
                        source,
                    })?;
                let line = text.lines().next().unwrap_or("").trim();
                match line.split_once(':') {
                    Some((user, password)) if !user.is_empty() => {
                        Ok((user.to_owned(), password.to_owned()))
                    }
                    _ => Err(UpstreamError::CookieFormat { path: path.clone() }),
                }
            }
        }
    }
}

/// A JSON-RPC 1.0 answer: both members present, one of them null.
#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error: Option<jsonrpc_core::Error>,
    id: Id,
}

impl Reply {
    fn into_output(self) -> Output {
        let result = match self.error {
            Some(e) => Err(e),
            None => Ok(self.result),
        };
        Output::from(result, self.id, None)
    }
}

/// A client for one node. Cheap to share behind an `Arc`; calls may run concurrently.
#[derive(Debug)]
pub struct NodeClient {
    http: reqwest::Client,
    url: String,
    auth: Auth,
    next_id: AtomicU64,
    request_timeout: Duration,
    longpoll_timeout: Duration,
    /// Permits for ordinary calls ([`MAX_CONCURRENT_CALLS`]).
    calls: Semaphore,
    /// The one longpoll slot.
    longpoll: Semaphore,
    /// `rules` of every `getblocktemplate` ([`template_rules`]).
    rules: &'static [&'static str],
}

impl NodeClient {
    /// A client for the node at `url` (e.g. `http://127.0.0.1:8332/`).
    pub fn new(url: impl Into<String>, auth: Auth) -> Result<Self, UpstreamError> {
        let url = url.into();
        // https:// node URLs (a TLS front for the RPC port) are verified as webhooks are.
        let tls = tls_config::client_config(None).map_err(|source| UpstreamError::Tls {
            url: url.clone(),
            source,
        })?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            // Never more idle connections than calls that can be in flight.
            .pool_max_idle_per_host(MAX_CONCURRENT_CALLS + 1)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|source| UpstreamError::Transport {
                url: url.clone(),
                source,
            })?;
        Ok(Self {
            http,
            url,
            auth,
            next_id: AtomicU64::new(1),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            longpoll_timeout: DEFAULT_LONGPOLL_TIMEOUT,
            calls: Semaphore::new(MAX_CONCURRENT_CALLS),
            longpoll: Semaphore::new(1),
            rules: template_rules(Network::Regtest),
        })
    }

    /// Sends the `getblocktemplate` rules of `network` (`signet` on signet).
    pub fn with_network(mut self, network: Network) -> Self {
        self.rules = template_rules(network);
        self
    }

    /// The longpoll timeout in force.
    pub fn longpoll_timeout(&self) -> Duration {
        self.longpoll_timeout
    }

    /// Overrides the ordinary and the longpoll timeouts.
    pub fn with_timeouts(mut self, request: Duration, longpoll: Duration) -> Self {
        self.request_timeout = request;
        self.longpoll_timeout = longpoll;
        self
    }

    /// The RPC URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls any method with positional params and reads the result as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<T, UpstreamError> {
        let _permit = self.calls.acquire().await.expect("never closed");
        self.call_with_timeout(method, params, self.request_timeout)
            .await
    }

    /// One exchange; the caller holds the permit ([`Self::calls`] or [`Self::longpoll`]).
    async fn call_with_timeout<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<Value>,
        timeout: Duration,
    ) -> Result<T, UpstreamError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let call = MethodCall {
            jsonrpc: None,
            method: method.to_owned(),
            params: Params::Array(params),
            id: Id::Num(id),
        };
        let bad_json = |detail: String| UpstreamError::BadJson {
            method: method.to_owned(),
            detail,
        };
        let body = serde_json::to_vec(&call).map_err(|e| bad_json(e.to_string()))?;
        let (user, password) = self.auth.credentials()?;
        let transport = |source| UpstreamError::Transport {
            url: self.url.clone(),
            source,
        };

        tracing::trace!(method, id, "node rpc call");
        let response = self
            .http
            .post(&self.url)
            .basic_auth(user, Some(password))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(UpstreamError::Unauthorized {
                url: self.url.clone(),
            });
        }
        let bytes = response.bytes().await.map_err(transport)?;

        // RPC errors come with HTTP 500 (or 404 for unknown methods) and a JSON body, so the
        // body decides; the status only matters when the body is not JSON-RPC.
        let reply: Reply = match serde_json::from_slice(&bytes) {
            Ok(reply) => reply,
            Err(e) if status.is_success() => return Err(bad_json(e.to_string())),
            Err(_) => {
                return Err(UpstreamError::Http {
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
                })
            }
        };
        match reply.into_output() {
            Output::Success(s) if s.id == Id::Num(id) => {
                serde_json::from_value(s.result).map_err(|e| bad_json(e.to_string()))
            }
            Output::Failure(f) if f.id == Id::Num(id) || f.id == Id::Null => {
                tracing::debug!(method, code = f.error.code.code(), message = %f.error.message, "node rpc error");
                Err(UpstreamError::Rpc {
                    method: method.to_owned(),
                    code: f.error.code.code(),
                    message: f.error.message,
                })
            }
            other => Err(bad_json(format!(
                "answer id {:?} does not match request id {id}",
                match other {
                    Output::Success(s) => s.id,
                    Output::Failure(f) => f.id,
                }
            ))),
        }
    }

    /// `getblockchaininfo`.
    pub async fn get_blockchain_info(&self) -> Result<BlockchainInfo, UpstreamError> {
        self.call("getblockchaininfo", vec![]).await
    }

    /// `getblockcount`: height of the best block.
    pub async fn get_block_count(&self) -> Result<u64, UpstreamError> {
        self.call("getblockcount", vec![]).await
    }

    /// `getbestblockhash`.
    pub async fn get_best_block_hash(&self) -> Result<BlockHash, UpstreamError> {
        self.call("getbestblockhash", vec![]).await
    }

    /// `getblock hash verbosity`, the node's JSON as is (a hex string for verbosity 0, an
    /// object otherwise).
    pub async fn get_block(&self, hash: &BlockHash, verbosity: u8) -> Result<Value, UpstreamError> {
        self.call("getblock", vec![json!(hash.to_string()), json!(verbosity)])
            .await
    }

    /// `getblockheader hash true`: where the block stands (best chain or not).
    pub async fn get_block_header(
        &self,
        hash: &BlockHash,
    ) -> Result<BlockHeaderInfo, UpstreamError> {
        self.call("getblockheader", vec![json!(hash.to_string()), json!(true)])
            .await
    }

    /// `getblock hash 0`, decoded.
    pub async fn get_block_raw(&self, hash: &BlockHash) -> Result<Block, UpstreamError> {
        let hex: String = self
            .call("getblock", vec![json!(hash.to_string()), json!(0)])
            .await?;
        let bad = |detail: String| UpstreamError::BadJson {
            method: "getblock".into(),
            detail,
        };
        let bytes = hex::decode(&hex).map_err(|e| bad(e.to_string()))?;
        encode::deserialize(&bytes).map_err(|e| bad(e.to_string()))
    }

    /// `getblocktemplate {"rules": [...]}` (`["segwit"]`, plus `"signet"` on signet): a
    /// template to mine on now.
    pub async fn get_block_template(&self) -> Result<BlockTemplate, UpstreamError> {
        self.call("getblocktemplate", vec![json!({"rules": self.rules})])
            .await
    }

    /// `getblocktemplate` with a `longpollid`: returns when the template changes (new block,
    /// or new transactions after a while), or fails with a transport timeout after the
    /// longpoll timeout. At most one runs at a time per client: a second call waits for the
    /// first to finish. A timed-out longpoll still holds one of the node's RPC threads until
    /// the tip changes, so the caller should not simply ask again (see [`crate::pool`]).
    pub async fn get_block_template_longpoll(
        &self,
        longpollid: &str,
    ) -> Result<BlockTemplate, UpstreamError> {
        let _slot = self.longpoll.acquire().await.expect("never closed");
        self.call_with_timeout(
            "getblocktemplate",
            vec![json!({"rules": self.rules, "longpollid": longpollid})],
            self.longpoll_timeout,
        )
        .await
    }

    /// `submitblock` of a block.
    pub async fn submit_block(&self, block: &Block) -> Result<SubmitBlockOutcome, UpstreamError> {
        self.submit_block_hex(&encode::serialize_hex(block)).await
    }

    /// `submitblock` of a block already in hex. A block the node cannot even decode (RPC error
    /// -22) is reported as [`SubmitBlockOutcome::Rejected`] with the node's message: for the
    /// caller it is a rejected block like any other (and a bug to log loudly).
    pub async fn submit_block_hex(&self, hex: &str) -> Result<SubmitBlockOutcome, UpstreamError> {
        match self
            .call::<Option<String>>("submitblock", vec![json!(hex)])
            .await
        {
            Ok(result) => {
                let outcome = SubmitBlockOutcome::from_result(result);
                tracing::info!(?outcome, "submitblock");
                Ok(outcome)
            }
            Err(UpstreamError::Rpc { code, message, .. })
                if code == rpc_code::DESERIALIZATION_ERROR =>
            {
                tracing::error!(%message, "node could not decode the submitted block");
                Ok(SubmitBlockOutcome::Rejected { reason: message })
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn cookie_file_credentials() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "__cookie__:abc:def").unwrap();
        let auth = Auth::CookieFile(f.path().to_owned());
        assert_eq!(
            auth.credentials().unwrap(),
            ("__cookie__".to_owned(), "abc:def".to_owned())
        );

        let mut bad = tempfile::NamedTempFile::new().unwrap();
        write!(bad, "no colon here").unwrap();
        assert!(matches!(
            Auth::CookieFile(bad.path().to_owned()).credentials(),
            Err(UpstreamError::CookieFormat { .. })
        ));
        assert!(matches!(
            Auth::CookieFile("/nonexistent/.cookie".into()).credentials(),
            Err(UpstreamError::Cookie { .. })
        ));
    }

    #[test]
    fn debug_redacts_password() {
        let auth = Auth::UserPass {
            user: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn requests_are_json_rpc_1_0_calls() {
        let call = MethodCall {
            jsonrpc: None,
            method: "getblockcount".into(),
            params: Params::Array(vec![]),
            id: Id::Num(7),
        };
        let v: Value = serde_json::to_value(&call).unwrap();
        assert_eq!(v["method"], "getblockcount");
        assert_eq!(v["id"], 7);
        assert_eq!(v["params"], json!([]));
        // No "2.0" version: the node answers in 1.0 form (result and error both present).
        assert!(v.get("jsonrpc").is_none_or(Value::is_null));
    }

    #[test]
    fn replies_map_to_outputs() {
        let ok: Reply = serde_json::from_str(r#"{"result":5,"error":null,"id":1}"#).unwrap();
        assert!(matches!(ok.into_output(), Output::Success(s) if s.result == json!(5)));
        let err: Reply = serde_json::from_str(
            r#"{"result":null,"error":{"code":-9,"message":"Bitcoin is not connected!"},"id":2}"#,
        )
        .unwrap();
        let Output::Failure(f) = err.into_output() else {
            panic!()
        };
        assert_eq!(f.error.code.code(), rpc_code::CLIENT_NOT_CONNECTED);
    }

    #[tokio::test]
    async fn connection_refused_is_a_transport_error() {
        // Bind then drop a listener: the port is (almost certainly) closed now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = NodeClient::new(
            format!("http://127.0.0.1:{port}/"),
            Auth::UserPass {
                user: "u".into(),
                password: "p".into(),
            },
        )
        .unwrap();
        let err = client.get_block_count().await.unwrap_err();
        assert!(err.is_transport(), "{err}");
    }
}
