//! Errors of the stratum crate, in two kinds.
//!
//! [`ParseError`] is what *we* report when a line from a peer cannot be understood: bad JSON, a
//! message that is not a JSON-RPC call or response, wrong parameter count or types, bad hex. A
//! server usually answers it with a [`StratumError`] of code 20 (see [`ParseError::to_stratum`])
//! and keeps the session; a client usually logs it.
//!
//! [`StratumError`] is the error *value* carried on the wire in a response's `error` member,
//! `[code, message, traceback]`, with the conventional stratum v1 codes in [`ErrorCode`].

use std::fmt;

use serde_json::Value;

/// Why a line or a message's parameters could not be parsed. Never produced by a panic: every
/// input, however hostile, maps to one of these.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The line is not valid JSON (or not valid UTF-8).
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// Valid JSON, but not a stratum (JSON-RPC 1.0) message.
    #[error("not a stratum message: {0}")]
    Envelope(&'static str),

    /// A call whose method this crate does not know (in the direction it was parsed for).
    #[error("unknown method {0:?}")]
    UnknownMethod(String),

    /// Wrong number of parameters for the method.
    #[error("{method}: expected {expected} params, got {got}")]
    Arity {
        /// The method name.
        method: &'static str,
        /// What was expected, e.g. `"2"` or `"5 or 6"`.
        expected: &'static str,
        /// How many parameters there were.
        got: usize,
    },

    /// A parameter (or result member) has the wrong JSON type or an out-of-range value.
    #[error("{method}: {field} must be {expected}")]
    Type {
        /// The method name (or `"result"` for response payloads).
        method: &'static str,
        /// Which parameter or member.
        field: &'static str,
        /// What it should have been.
        expected: &'static str,
    },

    /// A field is not valid hex (odd length or a non-hex character).
    #[error("{field}: invalid hex: {source}")]
    Hex {
        /// Which field.
        field: &'static str,
        /// What the hex decoder said.
        source: hex::FromHexError,
    },

    /// A hex field decoded, but has the wrong length for its type.
    #[error("{field}: expected {expected} hex digits, got {got}")]
    HexLength {
        /// Which field.
        field: &'static str,
        /// Expected number of hex digits.
        expected: usize,
        /// Actual number of hex digits.
        got: usize,
    },
}

impl ParseError {
    /// The error a server should answer a request with when the request could not be parsed:
    /// code 20 ("other"), carrying this error's text.
    pub fn to_stratum(&self) -> StratumError {
        StratumError::new(ErrorCode::Other, self.to_string())
    }
}

/// The conventional stratum v1 error codes (as used by pools and miners since the original
/// protocol; any other integer may appear on the wire too, see [`StratumError::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i64)]
pub enum ErrorCode {
    /// 20: other or unknown error, including malformed requests.
    Other = 20,
    /// 21: job not found, i.e. a stale share.
    JobNotFound = 21,
    /// 22: duplicate share.
    DuplicateShare = 22,
    /// 23: share above the target (difficulty too low).
    LowDifficulty = 23,
    /// 24: unauthorized worker.
    UnauthorizedWorker = 24,
    /// 25: not subscribed.
    NotSubscribed = 25,
}

impl ErrorCode {
    /// The integer on the wire.
    pub fn code(self) -> i64 {
        self as i64
    }

    /// The known code for an integer, if it is one of the standard ones.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            20 => Self::Other,
            21 => Self::JobNotFound,
            22 => Self::DuplicateShare,
            23 => Self::LowDifficulty,
            24 => Self::UnauthorizedWorker,
            25 => Self::NotSubscribed,
            _ => return None,
        })
    }

    /// The usual human-readable message for the code.
    pub fn default_message(self) -> &'static str {
        match self {
            Self::Other => "Other/Unknown",
            Self::JobNotFound => "Job not found",
            Self::DuplicateShare => "Duplicate share",
            Self::LowDifficulty => "Low difficulty share",
            Self::UnauthorizedWorker => "Unauthorized worker",
            Self::NotSubscribed => "Not subscribed",
        }
    }
}

/// An error as carried in a response: `[code, message, traceback]` on the wire. Some pools send
/// an object `{"code": .., "message": ..}` instead; parsing accepts both, serializing always
/// writes the array form with a `null` traceback.
#[derive(Debug, Clone, PartialEq)]
pub struct StratumError {
    /// The integer code (see [`ErrorCode`] for the standard ones).
    pub code: i64,
    /// Human-readable message.
    pub message: String,
}

impl StratumError {
    /// An error with a standard code and a custom message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: code.code(),
            message: message.into(),
        }
    }

    /// The standard code, if the code is one.
    pub fn kind(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(self.code)
    }

    /// Wire form: `[code, message, null]`.
    pub fn to_value(&self) -> Value {
        Value::Array(vec![
            Value::from(self.code),
            Value::from(self.message.clone()),
            Value::Null,
        ])
    }

    /// Reads the wire form (array or object). `Ok(None)` for `null`.
    pub fn from_value(value: &Value) -> Result<Option<Self>, ParseError> {
        let bad = ParseError::Type {
            method: "response",
            field: "error",
            expected: "null, [code, message, traceback] or {code, message}",
        };
        let (code, message) = match value {
            Value::Null => return Ok(None),
            Value::Array(items) => (items.first(), items.get(1)),
            Value::Object(map) => (map.get("code"), map.get("message")),
            _ => return Err(bad),
        };
        let code = code.and_then(Value::as_i64).ok_or(bad)?;
        let message = match message {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        Ok(Some(Self { code, message }))
    }
}

impl From<ErrorCode> for StratumError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code, code.default_message())
    }
}

impl fmt::Display for StratumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stratum error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for StratumError {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn codes_round_trip() {
        for code in 20..=25 {
            let kind = ErrorCode::from_code(code).unwrap();
            assert_eq!(kind.code(), code);
        }
        assert_eq!(ErrorCode::from_code(-1), None);
        assert_eq!(ErrorCode::LowDifficulty.code(), 23);
    }

    #[test]
    fn error_value_forms() {
        let e = StratumError::from(ErrorCode::JobNotFound);
        assert_eq!(e.to_value(), json!([21, "Job not found", null]));
        assert_eq!(StratumError::from_value(&e.to_value()).unwrap(), Some(e));
        let obj = json!({"code": 23, "message": "low"});
        let parsed = StratumError::from_value(&obj).unwrap().unwrap();
        assert_eq!(parsed.kind(), Some(ErrorCode::LowDifficulty));
        assert_eq!(StratumError::from_value(&Value::Null).unwrap(), None);
        assert!(StratumError::from_value(&json!("oops")).is_err());
        assert!(StratumError::from_value(&json!(["x", "y"])).is_err());
    }

    #[test]
    fn parse_error_maps_to_code_20() {
        let e = ParseError::UnknownMethod("mining.foo".into()).to_stratum();
        assert_eq!(e.kind(), Some(ErrorCode::Other));
        assert!(e.message.contains("mining.foo"));
    }
}
