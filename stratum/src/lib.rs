//! Stratum v1, the line-based JSON-RPC protocol between miners and pools, as both sides of this
//! project speak it: the proxy as a server, the miner as a client.
//!
//! Layers, from the wire up:
//! * [`codec`]: newline framing with a maximum line length (`tokio_util::codec`).
//! * [`message`]: the JSON-RPC 1.0 envelope (request, notification, response) with raw params.
//! * [`methods`]: typed `mining.*` / `client.*` calls and results, split by direction.
//! * [`encoding`]: the byte orders of the hex fields (prevhash word swap, big-endian `u32`s).
//! * [`error`]: [`ParseError`] for what we could not parse, [`StratumError`] and [`ErrorCode`]
//!   for errors carried on the wire.
//! * [`target`]: share difficulty <-> target, and whether a hash meets one: the miner searches
//!   against the same [`ShareTarget`] the proxy judges shares by.
//!
//! No I/O policy lives here (timeouts, vardiff, job tracking): only what both ends must agree on.
//!
//! ```
//! use stratum::{ClientRequest, Message};
//!
//! let line = r#"{"id":1,"method":"mining.authorize","params":["alice.rig1","x"]}"#;
//! let Message::Request(req) = Message::from_line(line).unwrap() else { unreachable!() };
//! let ClientRequest::Authorize(auth) = ClientRequest::from_request(&req).unwrap() else {
//!     unreachable!()
//! };
//! assert_eq!(auth.username, "alice.rig1");
//! ```

pub mod codec;
pub mod encoding;
pub mod error;
pub mod message;
pub mod methods;
pub mod target;

pub use codec::{CodecError, Line, StratumCodec, DEFAULT_MAX_LINE_LEN};
pub use error::{ErrorCode, ParseError, StratumError};
pub use message::{Id, Message, Notification, Request, Response, ResponseError};
pub use methods::{
    Authorize, ClientRequest, Configure, ConfigureResult, Notify, Reconnect, ServerMessage,
    SetExtranonce, Submit, Subscribe, SubscribeResult, VersionRollingRequest,
};
pub use target::{ShareTarget, TargetError};
