//! Errors talking to the node, split by what the caller should do about them: retry later
//! (transport, warming up), fix configuration (credentials), or report (RPC error, bad JSON).

use std::path::PathBuf;

/// Node RPC error codes this crate gives meaning to (the node's `RPC_*` constants).
pub mod rpc_code {
    /// Generic failure (`RPC_MISC_ERROR`).
    pub const MISC_ERROR: i64 = -1;
    /// `getblocktemplate` without a peer: "Bitcoin is not connected!".
    pub const CLIENT_NOT_CONNECTED: i64 = -9;
    /// `getblocktemplate` during initial block download.
    pub const CLIENT_IN_INITIAL_DOWNLOAD: i64 = -10;
    /// Invalid parameters (`RPC_INVALID_PARAMETER`).
    pub const INVALID_PARAMETER: i64 = -8;
    /// Block or transaction could not be decoded (`RPC_DESERIALIZATION_ERROR`).
    pub const DESERIALIZATION_ERROR: i64 = -22;
    /// The node is still starting (loading block index, wallet, ...).
    pub const IN_WARMUP: i64 = -28;
    /// Unknown method (`RPC_METHOD_NOT_FOUND`).
    pub const METHOD_NOT_FOUND: i64 = -32601;
}

/// Everything that can go wrong with one RPC call.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The HTTP exchange failed: connection refused (node down), reset, timeout.
    #[error("node at {url} unreachable: {source}")]
    Transport {
        /// The RPC URL.
        url: String,
        /// What the HTTP client said.
        #[source]
        source: reqwest::Error,
    },

    /// No TLS configuration for `https://` node URLs could be built.
    #[error("TLS for the node at {url}: {source}")]
    Tls {
        /// The RPC URL.
        url: String,
        /// Why the TLS client configuration could not be built.
        #[source]
        source: tls_config::TlsConfigError,
    },

    /// The node refused our credentials (HTTP 401).
    #[error("node at {url} refused the RPC credentials (HTTP 401)")]
    Unauthorized {
        /// The RPC URL.
        url: String,
    },

    /// A non-JSON HTTP error answer (e.g. 403 from `rpcallowip`, 503 while overloaded).
    #[error("node answered HTTP {status}: {body}")]
    Http {
        /// HTTP status code.
        status: u16,
        /// The start of the body.
        body: String,
    },

    /// The node answered with a JSON-RPC error.
    #[error("{method}: RPC error {code}: {message}")]
    Rpc {
        /// The method called.
        method: String,
        /// The node's error code (see [`rpc_code`]).
        code: i64,
        /// The node's message.
        message: String,
    },

    /// The answer is not the JSON we expect (not JSON-RPC, wrong id, or a result of the wrong
    /// shape for the method).
    #[error("{method}: unexpected answer from node: {detail}")]
    BadJson {
        /// The method called.
        method: String,
        /// What was wrong.
        detail: String,
    },

    /// The cookie file could not be read.
    #[error("cannot read RPC cookie file {path}: {source}")]
    Cookie {
        /// The path tried.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The cookie file is not `user:password`.
    #[error("RPC cookie file {path} is not in user:password form")]
    CookieFormat {
        /// The path read.
        path: PathBuf,
    },
}

impl UpstreamError {
    /// The node's RPC error code, if this is an RPC error.
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            Self::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The node could not be reached at all (down, restarting, wrong address).
    pub fn is_transport(&self) -> bool {
        matches!(self, Self::Transport { .. })
    }

    /// A transport error because the client-side timeout ran out (the node may still be
    /// working on the request).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Transport { source, .. } if source.is_timeout())
    }

    /// The node is up but not ready yet (loading, not connected, initial download): retrying
    /// later is the right response.
    pub fn is_not_ready(&self) -> bool {
        matches!(
            self.rpc_code(),
            Some(
                rpc_code::IN_WARMUP
                    | rpc_code::CLIENT_NOT_CONNECTED
                    | rpc_code::CLIENT_IN_INITIAL_DOWNLOAD
            )
        )
    }
}
