//! Typed stratum v1 methods: what each call's positional `params` and each result mean.
//!
//! Two directions, two enums, so a server never mistakes a `mining.notify` from a client for
//! something it should act on:
//!
//! * [`ClientRequest`], miner -> pool: `mining.subscribe`, `mining.authorize`,
//!   `mining.configure` (BIP310), `mining.suggest_difficulty`, `mining.extranonce.subscribe`,
//!   `mining.submit`.
//! * [`ServerMessage`], pool -> miner: `mining.set_difficulty`, `mining.set_extranonce`,
//!   `mining.notify`, `mining.set_version_mask` (BIP310), `client.reconnect`,
//!   `client.show_message`.
//!
//! Results with structure have their own types: [`SubscribeResult`] and [`ConfigureResult`];
//! the rest are booleans ([`crate::Response::bool_result`]).
//!
//! Byte orders of the hex fields are documented in [`crate::encoding`]. Parsing checks arity,
//! JSON types and hex lengths and never panics; it does not apply session policy (e.g. whether
//! an `extranonce2` has the size this session announced: see [`Submit::check_extranonce2_size`]).

use bitcoin::block::{Header, Version};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};
use serde_json::{Map, Value};

use crate::encoding::{
    bytes_from_hex, bytes_to_hex, hash_from_hex, mask_from_hex, prevhash_from_stratum,
    prevhash_to_stratum, u32_from_hex, u32_to_hex,
};
use crate::error::ParseError;
use crate::message::{Id, Notification, Request};

/// Method names on the wire.
pub mod names {
    /// `mining.subscribe`
    pub const SUBSCRIBE: &str = "mining.subscribe";
    /// `mining.authorize`
    pub const AUTHORIZE: &str = "mining.authorize";
    /// `mining.configure` (BIP310)
    pub const CONFIGURE: &str = "mining.configure";
    /// `mining.suggest_difficulty`
    pub const SUGGEST_DIFFICULTY: &str = "mining.suggest_difficulty";
    /// `mining.extranonce.subscribe`
    pub const EXTRANONCE_SUBSCRIBE: &str = "mining.extranonce.subscribe";
    /// `mining.submit`
    pub const SUBMIT: &str = "mining.submit";
    /// `mining.set_difficulty`
    pub const SET_DIFFICULTY: &str = "mining.set_difficulty";
    /// `mining.set_extranonce`
    pub const SET_EXTRANONCE: &str = "mining.set_extranonce";
    /// `mining.notify`
    pub const NOTIFY: &str = "mining.notify";
    /// `mining.set_version_mask` (BIP310)
    pub const SET_VERSION_MASK: &str = "mining.set_version_mask";
    /// `client.reconnect`
    pub const RECONNECT: &str = "client.reconnect";
    /// `client.show_message`
    pub const SHOW_MESSAGE: &str = "client.show_message";
}

/// BIP310 extension name for version rolling.
pub const VERSION_ROLLING: &str = "version-rolling";
/// BIP310 parameter: the mask of version bits the miner would like to roll.
pub const VERSION_ROLLING_MASK: &str = "version-rolling.mask";
/// BIP310 parameter: the minimum number of bits the miner needs.
pub const VERSION_ROLLING_MIN_BIT_COUNT: &str = "version-rolling.min-bit-count";

// ---------------------------------------------------------------------------------------------
// Client -> server

/// `mining.subscribe` params: `[user_agent?, session_id?]`. Some miners append host and port;
/// up to four params are accepted and the extra ones ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscribe {
    /// Miner software and version, e.g. `"cpuminer/2.5.1"`.
    pub user_agent: Option<String>,
    /// A previous session (extranonce1) the miner asks to resume.
    pub session_id: Option<String>,
}

/// `mining.authorize` params: `[username, password?]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorize {
    /// Worker name, often `account.worker`.
    pub username: String,
    /// Password; many miners send `"x"` or nothing.
    pub password: Option<String>,
}

/// BIP310 version-rolling request parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRollingRequest {
    /// Bits the miner would like to roll (`version-rolling.mask`); BIP310 default `ffffffff`.
    pub mask: u32,
    /// Minimum number of bits it needs (`version-rolling.min-bit-count`); default 0.
    pub min_bit_count: u32,
}

/// `mining.configure` params: `[[extension, ...], {"ext.param": value, ...}]` (BIP310).
#[derive(Debug, Clone, PartialEq)]
pub struct Configure {
    /// Extension names requested, e.g. `["version-rolling"]`.
    pub extensions: Vec<String>,
    /// The version-rolling parameters, when `version-rolling` is requested.
    pub version_rolling: Option<VersionRollingRequest>,
    /// All extension parameters as sent (including the version-rolling ones).
    pub parameters: Map<String, Value>,
}

impl Configure {
    /// A request for version rolling only.
    pub fn version_rolling(mask: u32, min_bit_count: u32) -> Self {
        let mut parameters = Map::new();
        parameters.insert(VERSION_ROLLING_MASK.into(), Value::from(u32_to_hex(mask)));
        parameters.insert(
            VERSION_ROLLING_MIN_BIT_COUNT.into(),
            Value::from(min_bit_count),
        );
        Self {
            extensions: vec![VERSION_ROLLING.into()],
            version_rolling: Some(VersionRollingRequest {
                mask,
                min_bit_count,
            }),
            parameters,
        }
    }
}

/// `mining.submit` params:
/// `[worker, job_id, extranonce2, ntime, nonce]` plus `version_bits` with BIP310.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    /// The authorized worker name.
    pub worker: String,
    /// The job this share is for (from `mining.notify`).
    pub job_id: String,
    /// The extranonce2 bytes the miner chose (raw, inserted as-is into the coinbase).
    pub extranonce2: Vec<u8>,
    /// The header time used (wire: 8 big-endian hex digits).
    pub ntime: u32,
    /// The header nonce found (wire: 8 big-endian hex digits; header holds `to_le_bytes`).
    pub nonce: u32,
    /// BIP310 rolled version bits (wire: 8 big-endian hex digits).
    pub version_bits: Option<u32>,
}

impl Submit {
    /// Checks the extranonce2 has the size the session announced. On mismatch the server
    /// should answer code 20.
    pub fn check_extranonce2_size(&self, expected: usize) -> Result<(), ParseError> {
        if self.extranonce2.len() == expected {
            Ok(())
        } else {
            Err(ParseError::HexLength {
                field: "extranonce2",
                expected: 2 * expected,
                got: 2 * self.extranonce2.len(),
            })
        }
    }

    /// The header version this share used: the job's version with the masked bits replaced by
    /// `version_bits` (BIP310), or the job's version when no bits were rolled.
    pub fn header_version(&self, job_version: Version, mask: u32) -> Version {
        match self.version_bits {
            None => job_version,
            Some(bits) => {
                let v = job_version.to_consensus() as u32;
                Version::from_consensus(((v & !mask) | (bits & mask)) as i32)
            }
        }
    }
}

/// A call from a miner to a pool.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientRequest {
    /// `mining.subscribe`
    Subscribe(Subscribe),
    /// `mining.authorize`
    Authorize(Authorize),
    /// `mining.configure`
    Configure(Configure),
    /// `mining.suggest_difficulty` with the difficulty the miner would like.
    SuggestDifficulty(f64),
    /// `mining.extranonce.subscribe` (no params): the miner accepts `mining.set_extranonce`.
    ExtranonceSubscribe,
    /// `mining.submit`
    Submit(Submit),
}

impl ClientRequest {
    /// Interprets a request from a miner.
    pub fn from_request(request: &Request) -> Result<Self, ParseError> {
        Self::parse(&request.method, &request.params)
    }

    /// Interprets a method name and its params.
    pub fn parse(method: &str, params: &[Value]) -> Result<Self, ParseError> {
        match method {
            names::SUBSCRIBE => {
                let p = Params::new(names::SUBSCRIBE, params, 0, 4, "0 to 4")?;
                Ok(Self::Subscribe(Subscribe {
                    user_agent: p.opt_string(0, "user_agent")?,
                    session_id: p.opt_string(1, "session_id")?,
                }))
            }
            names::AUTHORIZE => {
                let p = Params::new(names::AUTHORIZE, params, 1, 2, "1 or 2")?;
                Ok(Self::Authorize(Authorize {
                    username: p.string(0, "username")?,
                    password: p.opt_string(1, "password")?,
                }))
            }
            names::CONFIGURE => {
                let p = Params::new(names::CONFIGURE, params, 2, 2, "2")?;
                let extensions = p
                    .array(0, "extensions")?
                    .iter()
                    .map(|e| e.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(p.type_error("extensions", "an array of strings"))?;
                let parameters = p.object(1, "parameters")?.clone();
                let version_rolling = if extensions.iter().any(|e| e == VERSION_ROLLING) {
                    let mask = match parameters.get(VERSION_ROLLING_MASK) {
                        None | Some(Value::Null) => u32::MAX,
                        Some(Value::String(s)) => mask_from_hex(VERSION_ROLLING_MASK, s)?,
                        Some(_) => return Err(p.type_error(VERSION_ROLLING_MASK, "a hex string")),
                    };
                    let min_bit_count = match parameters.get(VERSION_ROLLING_MIN_BIT_COUNT) {
                        None | Some(Value::Null) => 0,
                        Some(v) => v
                            .as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .filter(|n| *n <= 32)
                            .ok_or(p.type_error(
                                VERSION_ROLLING_MIN_BIT_COUNT,
                                "an integer from 0 to 32",
                            ))?,
                    };
                    Some(VersionRollingRequest {
                        mask,
                        min_bit_count,
                    })
                } else {
                    None
                };
                Ok(Self::Configure(Configure {
                    extensions,
                    version_rolling,
                    parameters,
                }))
            }
            names::SUGGEST_DIFFICULTY => {
                let p = Params::new(names::SUGGEST_DIFFICULTY, params, 1, 1, "1")?;
                Ok(Self::SuggestDifficulty(p.difficulty(0)?))
            }
            names::EXTRANONCE_SUBSCRIBE => {
                Params::new(names::EXTRANONCE_SUBSCRIBE, params, 0, 0, "0")?;
                Ok(Self::ExtranonceSubscribe)
            }
            names::SUBMIT => {
                let p = Params::new(names::SUBMIT, params, 5, 6, "5 or 6")?;
                let version_bits = match p.get(5) {
                    None | Some(Value::Null) => None,
                    Some(_) => Some(u32_from_hex("version_bits", p.str(5, "version_bits")?)?),
                };
                Ok(Self::Submit(Submit {
                    worker: p.string(0, "worker")?,
                    job_id: p.string(1, "job_id")?,
                    extranonce2: bytes_from_hex("extranonce2", p.str(2, "extranonce2")?)?,
                    ntime: u32_from_hex("ntime", p.str(3, "ntime")?)?,
                    nonce: u32_from_hex("nonce", p.str(4, "nonce")?)?,
                    version_bits,
                }))
            }
            other => Err(ParseError::UnknownMethod(other.to_owned())),
        }
    }

    /// The method name.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Subscribe(_) => names::SUBSCRIBE,
            Self::Authorize(_) => names::AUTHORIZE,
            Self::Configure(_) => names::CONFIGURE,
            Self::SuggestDifficulty(_) => names::SUGGEST_DIFFICULTY,
            Self::ExtranonceSubscribe => names::EXTRANONCE_SUBSCRIBE,
            Self::Submit(_) => names::SUBMIT,
        }
    }

    /// The positional params as sent on the wire.
    pub fn to_params(&self) -> Vec<Value> {
        match self {
            Self::Subscribe(s) => {
                let mut v = Vec::new();
                if s.user_agent.is_some() || s.session_id.is_some() {
                    v.push(opt_string_value(&s.user_agent));
                }
                if s.session_id.is_some() {
                    v.push(opt_string_value(&s.session_id));
                }
                v
            }
            Self::Authorize(a) => {
                let mut v = vec![Value::from(a.username.clone())];
                if let Some(pw) = &a.password {
                    v.push(Value::from(pw.clone()));
                }
                v
            }
            Self::Configure(c) => {
                let mut parameters = c.parameters.clone();
                if let Some(vr) = &c.version_rolling {
                    parameters.insert(VERSION_ROLLING_MASK.into(), u32_to_hex(vr.mask).into());
                    parameters.insert(
                        VERSION_ROLLING_MIN_BIT_COUNT.into(),
                        Value::from(vr.min_bit_count),
                    );
                }
                vec![Value::from(c.extensions.clone()), Value::Object(parameters)]
            }
            Self::SuggestDifficulty(d) => vec![difficulty_value(*d)],
            Self::ExtranonceSubscribe => vec![],
            Self::Submit(s) => {
                let mut v = vec![
                    Value::from(s.worker.clone()),
                    Value::from(s.job_id.clone()),
                    Value::from(bytes_to_hex(&s.extranonce2)),
                    Value::from(u32_to_hex(s.ntime)),
                    Value::from(u32_to_hex(s.nonce)),
                ];
                if let Some(bits) = s.version_bits {
                    v.push(Value::from(u32_to_hex(bits)));
                }
                v
            }
        }
    }

    /// A request with this call and the given id.
    pub fn into_request(self, id: Id) -> Request {
        Request {
            id,
            method: self.method().to_owned(),
            params: self.to_params(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Server -> client

/// `mining.set_extranonce` params: `[extranonce1, extranonce2_size]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetExtranonce {
    /// The new extranonce1 (raw bytes).
    pub extranonce1: Vec<u8>,
    /// The new extranonce2 size in bytes.
    pub extranonce2_size: usize,
}

/// `mining.notify` params:
/// `[job_id, prevhash, coinb1, coinb2, merkle_branch, version, nbits, ntime, clean_jobs]`.
/// See [`crate::encoding`] for each field's byte order on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Job id, echoed in `mining.submit`.
    pub job_id: String,
    /// Previous block hash (wire: word-swapped hex).
    pub prevhash: BlockHash,
    /// Coinbase transaction bytes before the extranonces.
    pub coinb1: Vec<u8>,
    /// Coinbase transaction bytes after the extranonces.
    pub coinb2: Vec<u8>,
    /// Merkle branch from the coinbase to the root, hashes in internal byte order.
    pub merkle_branch: Vec<[u8; 32]>,
    /// Block version (wire: big-endian hex of the u32).
    pub version: Version,
    /// Compact network target (wire: big-endian hex).
    pub nbits: CompactTarget,
    /// Header time (wire: big-endian hex).
    pub ntime: u32,
    /// When true the miner must drop all previous jobs.
    pub clean_jobs: bool,
}

impl Notify {
    /// The coinbase transaction bytes: `coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2`.
    pub fn coinbase(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Vec<u8> {
        let mut tx = Vec::with_capacity(
            self.coinb1.len() + extranonce1.len() + extranonce2.len() + self.coinb2.len(),
        );
        tx.extend_from_slice(&self.coinb1);
        tx.extend_from_slice(extranonce1);
        tx.extend_from_slice(extranonce2);
        tx.extend_from_slice(&self.coinb2);
        tx
    }

    /// The merkle root for a coinbase (serialized bytes): its double-SHA256, folded with each
    /// branch hash on the right.
    pub fn merkle_root(&self, coinbase: &[u8]) -> TxMerkleNode {
        let mut node = sha256d::Hash::hash(coinbase).to_byte_array();
        for step in &self.merkle_branch {
            let mut buf = [0u8; 64];
            buf[..32].copy_from_slice(&node);
            buf[32..].copy_from_slice(step);
            node = sha256d::Hash::hash(&buf).to_byte_array();
        }
        TxMerkleNode::from_byte_array(node)
    }

    /// The block header a share for this job commits to.
    pub fn header(
        &self,
        merkle_root: TxMerkleNode,
        version: Version,
        ntime: u32,
        nonce: u32,
    ) -> Header {
        Header {
            version,
            prev_blockhash: self.prevhash,
            merkle_root,
            time: ntime,
            bits: self.nbits,
            nonce,
        }
    }
}

/// `client.reconnect` params: `[host?, port?, wait_seconds?]`. Empty params mean "reconnect to
/// the same place".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reconnect {
    /// New host, if any.
    pub host: Option<String>,
    /// New port, if any (sent as a number or a numeric string).
    pub port: Option<u16>,
    /// Seconds to wait before reconnecting.
    pub wait_secs: Option<u64>,
}

/// A message from a pool to a miner (usually a notification; `client.*` may come as requests).
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// `mining.set_difficulty`: share difficulty for following jobs (may be below 1).
    SetDifficulty(f64),
    /// `mining.set_extranonce`
    SetExtranonce(SetExtranonce),
    /// `mining.notify`
    Notify(Notify),
    /// `mining.set_version_mask` (BIP310): the new rolling mask.
    SetVersionMask(u32),
    /// `client.reconnect`
    Reconnect(Reconnect),
    /// `client.show_message`: text for the operator.
    ShowMessage(String),
}

impl ServerMessage {
    /// Interprets a notification from a pool.
    pub fn from_notification(n: &Notification) -> Result<Self, ParseError> {
        Self::parse(&n.method, &n.params)
    }

    /// Interprets a method name and its params.
    pub fn parse(method: &str, params: &[Value]) -> Result<Self, ParseError> {
        match method {
            names::SET_DIFFICULTY => {
                let p = Params::new(names::SET_DIFFICULTY, params, 1, 1, "1")?;
                Ok(Self::SetDifficulty(p.difficulty(0)?))
            }
            names::SET_EXTRANONCE => {
                let p = Params::new(names::SET_EXTRANONCE, params, 2, 2, "2")?;
                Ok(Self::SetExtranonce(SetExtranonce {
                    extranonce1: bytes_from_hex("extranonce1", p.str(0, "extranonce1")?)?,
                    extranonce2_size: p.size(1, "extranonce2_size")?,
                }))
            }
            names::NOTIFY => {
                let p = Params::new(names::NOTIFY, params, 9, 9, "9")?;
                let merkle_branch = p
                    .array(4, "merkle_branch")?
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => hash_from_hex("merkle_branch", s),
                        _ => Err(p.type_error("merkle_branch", "an array of hex strings")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Self::Notify(Notify {
                    job_id: p.string(0, "job_id")?,
                    prevhash: prevhash_from_stratum(p.str(1, "prevhash")?)?,
                    coinb1: bytes_from_hex("coinb1", p.str(2, "coinb1")?)?,
                    coinb2: bytes_from_hex("coinb2", p.str(3, "coinb2")?)?,
                    merkle_branch,
                    version: Version::from_consensus(
                        u32_from_hex("version", p.str(5, "version")?)? as i32,
                    ),
                    nbits: CompactTarget::from_consensus(u32_from_hex(
                        "nbits",
                        p.str(6, "nbits")?,
                    )?),
                    ntime: u32_from_hex("ntime", p.str(7, "ntime")?)?,
                    clean_jobs: p.bool(8, "clean_jobs")?,
                }))
            }
            names::SET_VERSION_MASK => {
                let p = Params::new(names::SET_VERSION_MASK, params, 1, 1, "1")?;
                Ok(Self::SetVersionMask(mask_from_hex(
                    "version_mask",
                    p.str(0, "version_mask")?,
                )?))
            }
            names::RECONNECT => {
                let p = Params::new(names::RECONNECT, params, 0, 3, "0 to 3")?;
                let port = match p.get(1) {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) => Some(
                        n.as_u64()
                            .and_then(|n| u16::try_from(n).ok())
                            .ok_or(p.type_error("port", "a port number"))?,
                    ),
                    Some(Value::String(s)) => Some(
                        s.parse::<u16>()
                            .map_err(|_| p.type_error("port", "a port number"))?,
                    ),
                    Some(_) => return Err(p.type_error("port", "a port number")),
                };
                let wait_secs = match p.get(2) {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(
                        v.as_u64()
                            .ok_or(p.type_error("wait", "a non-negative integer"))?,
                    ),
                };
                Ok(Self::Reconnect(Reconnect {
                    host: p.opt_string(0, "host")?,
                    port,
                    wait_secs,
                }))
            }
            names::SHOW_MESSAGE => {
                let p = Params::new(names::SHOW_MESSAGE, params, 1, 1, "1")?;
                Ok(Self::ShowMessage(p.string(0, "message")?))
            }
            other => Err(ParseError::UnknownMethod(other.to_owned())),
        }
    }

    /// The method name.
    pub fn method(&self) -> &'static str {
        match self {
            Self::SetDifficulty(_) => names::SET_DIFFICULTY,
            Self::SetExtranonce(_) => names::SET_EXTRANONCE,
            Self::Notify(_) => names::NOTIFY,
            Self::SetVersionMask(_) => names::SET_VERSION_MASK,
            Self::Reconnect(_) => names::RECONNECT,
            Self::ShowMessage(_) => names::SHOW_MESSAGE,
        }
    }

    /// The positional params as sent on the wire.
    pub fn to_params(&self) -> Vec<Value> {
        match self {
            Self::SetDifficulty(d) => vec![difficulty_value(*d)],
            Self::SetExtranonce(s) => vec![
                Value::from(bytes_to_hex(&s.extranonce1)),
                Value::from(s.extranonce2_size),
            ],
            Self::Notify(n) => vec![
                Value::from(n.job_id.clone()),
                Value::from(prevhash_to_stratum(&n.prevhash)),
                Value::from(bytes_to_hex(&n.coinb1)),
                Value::from(bytes_to_hex(&n.coinb2)),
                Value::Array(
                    n.merkle_branch
                        .iter()
                        .map(|h| Value::from(hex::encode(h)))
                        .collect(),
                ),
                Value::from(u32_to_hex(n.version.to_consensus() as u32)),
                Value::from(u32_to_hex(n.nbits.to_consensus())),
                Value::from(u32_to_hex(n.ntime)),
                Value::from(n.clean_jobs),
            ],
            Self::SetVersionMask(m) => vec![Value::from(u32_to_hex(*m))],
            Self::Reconnect(r) => {
                let mut v = Vec::new();
                if r.host.is_some() || r.port.is_some() || r.wait_secs.is_some() {
                    v.push(opt_string_value(&r.host));
                    v.push(r.port.map_or(Value::Null, Value::from));
                }
                if let Some(w) = r.wait_secs {
                    v.push(Value::from(w));
                }
                v
            }
            Self::ShowMessage(m) => vec![Value::from(m.clone())],
        }
    }

    /// A notification (`"id": null`) carrying this message.
    pub fn into_notification(self) -> Notification {
        Notification {
            method: self.method().to_owned(),
            params: self.to_params(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Structured results

/// `mining.subscribe` result:
/// `[[["mining.set_difficulty", id], ["mining.notify", id]], extranonce1, extranonce2_size]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeResult {
    /// Subscription details, `(method, subscription id)` pairs. Informational.
    pub subscriptions: Vec<(String, String)>,
    /// The session's extranonce1 (raw bytes; hex on the wire).
    pub extranonce1: Vec<u8>,
    /// How many bytes of extranonce2 the miner rolls.
    pub extranonce2_size: usize,
}

impl SubscribeResult {
    /// Wire form.
    pub fn to_value(&self) -> Value {
        let subs = self
            .subscriptions
            .iter()
            .map(|(m, id)| Value::Array(vec![Value::from(m.clone()), Value::from(id.clone())]))
            .collect();
        Value::Array(vec![
            Value::Array(subs),
            Value::from(bytes_to_hex(&self.extranonce1)),
            Value::from(self.extranonce2_size),
        ])
    }

    /// Reads the wire form. The details may be a list of pairs, a single pair, or `null`.
    pub fn from_value(value: &Value) -> Result<Self, ParseError> {
        const M: &str = "mining.subscribe result";
        let Value::Array(items) = value else {
            return Err(ParseError::Type {
                method: M,
                field: "result",
                expected: "an array",
            });
        };
        let p = Params::new(M, items, 3, 3, "3")?;
        let pair = |v: &Value| -> Option<(String, String)> {
            let a = v.as_array()?;
            Some((
                a.first()?.as_str()?.to_owned(),
                a.get(1)?.as_str()?.to_owned(),
            ))
        };
        let subscriptions = match &items[0] {
            Value::Null => Vec::new(),
            Value::Array(a) if a.first().is_some_and(Value::is_string) => {
                vec![pair(&items[0]).ok_or(p.type_error("subscriptions", "[method, id] pairs"))?]
            }
            Value::Array(a) => a
                .iter()
                .map(pair)
                .collect::<Option<Vec<_>>>()
                .ok_or(p.type_error("subscriptions", "[method, id] pairs"))?,
            _ => return Err(p.type_error("subscriptions", "[method, id] pairs")),
        };
        Ok(Self {
            subscriptions,
            extranonce1: bytes_from_hex("extranonce1", p.str(1, "extranonce1")?)?,
            extranonce2_size: p.size(2, "extranonce2_size")?,
        })
    }
}

/// `mining.configure` result: `{"version-rolling": bool, "version-rolling.mask": hex, ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigureResult {
    /// Whether version rolling was accepted (`None` if the server did not answer about it).
    pub version_rolling: Option<bool>,
    /// The mask the server allows.
    pub version_rolling_mask: Option<u32>,
    /// Every member as sent, for other extensions.
    pub other: Map<String, Value>,
}

impl ConfigureResult {
    /// A result accepting version rolling with `mask`.
    pub fn version_rolling(mask: u32) -> Self {
        Self {
            version_rolling: Some(true),
            version_rolling_mask: Some(mask),
            other: Map::new(),
        }
    }

    /// Wire form.
    pub fn to_value(&self) -> Value {
        let mut map = self.other.clone();
        if let Some(b) = self.version_rolling {
            map.insert(VERSION_ROLLING.into(), Value::from(b));
        }
        if let Some(m) = self.version_rolling_mask {
            map.insert(VERSION_ROLLING_MASK.into(), Value::from(u32_to_hex(m)));
        }
        Value::Object(map)
    }

    /// Reads the wire form.
    pub fn from_value(value: &Value) -> Result<Self, ParseError> {
        const M: &str = "mining.configure result";
        let bad = |field, expected| ParseError::Type {
            method: M,
            field,
            expected,
        };
        let Value::Object(map) = value else {
            return Err(bad("result", "an object"));
        };
        let version_rolling = match map.get(VERSION_ROLLING) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            // Some pools answer an error string instead of false.
            Some(Value::String(_)) => Some(false),
            Some(_) => return Err(bad(VERSION_ROLLING, "a boolean")),
        };
        let version_rolling_mask = match map.get(VERSION_ROLLING_MASK) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(mask_from_hex(VERSION_ROLLING_MASK, s)?),
            Some(_) => return Err(bad(VERSION_ROLLING_MASK, "a hex string")),
        };
        Ok(Self {
            version_rolling,
            version_rolling_mask,
            other: map.clone(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A difficulty as JSON: an integer when it is one (as classic pools send `1`), else a float.
pub fn difficulty_value(d: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if d.fract() == 0.0 && (0.0..EXACT).contains(&d) {
        Value::from(d as u64)
    } else {
        // Non-finite values become null, which a peer will reject; callers never send them.
        Value::from(d)
    }
}

fn opt_string_value(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::from(s.clone()))
}

/// Positional-params reader that turns every mismatch into a [`ParseError`].
struct Params<'a> {
    method: &'static str,
    params: &'a [Value],
}

impl<'a> Params<'a> {
    fn new(
        method: &'static str,
        params: &'a [Value],
        min: usize,
        max: usize,
        expected: &'static str,
    ) -> Result<Self, ParseError> {
        if params.len() < min || params.len() > max {
            return Err(ParseError::Arity {
                method,
                expected,
                got: params.len(),
            });
        }
        Ok(Self { method, params })
    }

    fn type_error(&self, field: &'static str, expected: &'static str) -> ParseError {
        ParseError::Type {
            method: self.method,
            field,
            expected,
        }
    }

    fn get(&self, i: usize) -> Option<&'a Value> {
        self.params.get(i)
    }

    fn str(&self, i: usize, field: &'static str) -> Result<&'a str, ParseError> {
        self.get(i)
            .and_then(Value::as_str)
            .ok_or(self.type_error(field, "a string"))
    }

    fn string(&self, i: usize, field: &'static str) -> Result<String, ParseError> {
        self.str(i, field).map(str::to_owned)
    }

    fn opt_string(&self, i: usize, field: &'static str) -> Result<Option<String>, ParseError> {
        match self.get(i) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.type_error(field, "a string or null")),
        }
    }

    fn bool(&self, i: usize, field: &'static str) -> Result<bool, ParseError> {
        self.get(i)
            .and_then(Value::as_bool)
            .ok_or(self.type_error(field, "a boolean"))
    }

    fn size(&self, i: usize, field: &'static str) -> Result<usize, ParseError> {
        self.get(i)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n <= 32)
            .ok_or(self.type_error(field, "an integer from 0 to 32"))
    }

    fn array(&self, i: usize, field: &'static str) -> Result<&'a Vec<Value>, ParseError> {
        self.get(i)
            .and_then(Value::as_array)
            .ok_or(self.type_error(field, "an array"))
    }

    fn object(&self, i: usize, field: &'static str) -> Result<&'a Map<String, Value>, ParseError> {
        self.get(i)
            .and_then(Value::as_object)
            .ok_or(self.type_error(field, "an object"))
    }

    /// A share difficulty: a positive finite number, integer or float (may be below 1).
    fn difficulty(&self, i: usize) -> Result<f64, ParseError> {
        self.get(i)
            .and_then(Value::as_f64)
            .filter(|d| d.is_finite() && *d > 0.0)
            .ok_or(self.type_error("difficulty", "a positive number"))
    }
}

#[cfg(test)]
mod tests;
