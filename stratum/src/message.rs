//! The JSON-RPC 1.0 envelope as stratum v1 uses it, one message per line.
//!
//! * request: `{"id": 1, "method": "mining.subscribe", "params": [...]}`
//! * notification: the same with `"id": null` (`mining.notify`, `mining.set_difficulty`, ...)
//! * response: `{"id": 1, "result": ..., "error": null | [code, message, traceback]}`
//!
//! There is no `"jsonrpc"` member; if a peer sends one it is ignored. A line is first parsed into
//! a [`Message`] here (envelope only, parameters kept as raw JSON), and the parameters are then
//! interpreted by the typed layer in [`crate::methods`]. Serialization writes members in the
//! classic order shown above and never a trailing newline (the codec adds it).

use serde::Serialize;
use serde_json::Value;

use crate::error::{ParseError, StratumError};

/// A request or response id. Stratum peers use integers almost always, sometimes strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Id {
    /// An integer id.
    Num(i64),
    /// A string id.
    Str(String),
}

impl From<i64> for Id {
    fn from(n: i64) -> Self {
        Id::Num(n)
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id::Str(s.to_owned())
    }
}

/// A call that expects a response.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Correlates the response.
    pub id: Id,
    /// Method name, e.g. `mining.submit`.
    pub method: String,
    /// Positional parameters, uninterpreted.
    pub params: Vec<Value>,
}

/// A call without a response (`"id": null`).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Method name, e.g. `mining.notify`.
    pub method: String,
    /// Positional parameters, uninterpreted.
    pub params: Vec<Value>,
}

/// A response to a [`Request`].
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The id of the request answered; `None` when the peer could not tell (e.g. it failed to
    /// parse the request).
    pub id: Option<Id>,
    /// The result, `null` on error.
    pub result: Value,
    /// The error, if any.
    pub error: Option<StratumError>,
}

impl Response {
    /// A successful response.
    pub fn ok(id: Id, result: impl Into<Value>) -> Self {
        Self {
            id: Some(id),
            result: result.into(),
            error: None,
        }
    }

    /// An error response. `id` is `None` only when the request's id is unknown.
    pub fn err(id: Option<Id>, error: impl Into<StratumError>) -> Self {
        Self {
            id,
            result: Value::Null,
            error: Some(error.into()),
        }
    }

    /// The result of a boolean method (`mining.authorize`, `mining.submit`,
    /// `mining.extranonce.subscribe`): `Err` carries a wire error, or a parse error if the
    /// result is not a boolean.
    pub fn bool_result(&self) -> Result<bool, ResponseError> {
        if let Some(e) = &self.error {
            return Err(ResponseError::Remote(e.clone()));
        }
        self.result
            .as_bool()
            .ok_or(ResponseError::Parse(ParseError::Type {
                method: "response",
                field: "result",
                expected: "a boolean",
            }))
    }
}

/// What a response's payload can fail with: the peer's own error, or an unreadable result.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// The peer answered with an error.
    #[error(transparent)]
    Remote(StratumError),
    /// The result could not be interpreted.
    #[error(transparent)]
    Parse(ParseError),
}

/// One line of stratum traffic.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A call expecting a response.
    Request(Request),
    /// A call with `"id": null`.
    Notification(Notification),
    /// A response.
    Response(Response),
}

#[derive(Serialize)]
struct WireCall<'a> {
    id: Option<&'a Id>,
    method: &'a str,
    params: &'a [Value],
}

#[derive(Serialize)]
struct WireResponse<'a> {
    id: Option<&'a Id>,
    result: &'a Value,
    error: Value,
}

impl Message {
    /// Parses one line (without or with its trailing newline). Never panics.
    pub fn from_line(line: &str) -> Result<Self, ParseError> {
        Self::from_slice(line.as_bytes())
    }

    /// Parses one line given as bytes (UTF-8 is checked by the JSON parser). Never panics.
    pub fn from_slice(line: &[u8]) -> Result<Self, ParseError> {
        let value: Value = serde_json::from_slice(line)?;
        Self::from_value(value)
    }

    /// Interprets an already parsed JSON value.
    pub fn from_value(value: Value) -> Result<Self, ParseError> {
        let Value::Object(mut map) = value else {
            return Err(ParseError::Envelope("expected a JSON object"));
        };
        let id = parse_id(map.remove("id"))?;
        if let Some(method) = map.remove("method") {
            let Value::String(method) = method else {
                return Err(ParseError::Envelope("method must be a string"));
            };
            let params = match map.remove("params") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(params)) => params,
                Some(_) => return Err(ParseError::Envelope("params must be an array")),
            };
            return Ok(match id {
                Some(id) => Message::Request(Request { id, method, params }),
                None => Message::Notification(Notification { method, params }),
            });
        }
        if map.contains_key("result") || map.contains_key("error") {
            let result = map.remove("result").unwrap_or(Value::Null);
            let error = match map.remove("error") {
                Some(v) => StratumError::from_value(&v)?,
                None => None,
            };
            return Ok(Message::Response(Response { id, result, error }));
        }
        Err(ParseError::Envelope(
            "neither a call (method) nor a response (result/error)",
        ))
    }

    /// The single-line JSON text, without a newline.
    pub fn to_line(&self) -> String {
        let encoded = match self {
            Message::Request(r) => serde_json::to_string(&WireCall {
                id: Some(&r.id),
                method: &r.method,
                params: &r.params,
            }),
            Message::Notification(n) => serde_json::to_string(&WireCall {
                id: None,
                method: &n.method,
                params: &n.params,
            }),
            Message::Response(r) => serde_json::to_string(&WireResponse {
                id: r.id.as_ref(),
                result: &r.result,
                error: r.error.as_ref().map_or(Value::Null, StratumError::to_value),
            }),
        };
        // Serializing `Value`s, strings and integers into a String cannot fail (no maps with
        // non-string keys, no I/O); fall back to an empty object rather than panic regardless.
        encoded.unwrap_or_else(|e| {
            tracing::error!(error = %e, "stratum message failed to serialize");
            String::from("{}")
        })
    }

    /// The method name, for calls.
    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request(r) => Some(&r.method),
            Message::Notification(n) => Some(&n.method),
            Message::Response(_) => None,
        }
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Message::Request(r)
    }
}

impl From<Notification> for Message {
    fn from(n: Notification) -> Self {
        Message::Notification(n)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Message::Response(r)
    }
}

fn parse_id(id: Option<Value>) -> Result<Option<Id>, ParseError> {
    match id {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(|n| Some(Id::Num(n)))
            .ok_or(ParseError::Envelope(
                "id must be an integer, a string or null",
            )),
        Some(Value::String(s)) => Ok(Some(Id::Str(s))),
        Some(_) => Err(ParseError::Envelope(
            "id must be an integer, a string or null",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    #[test]
    fn request_round_trip_keeps_classic_member_order() {
        let line = r#"{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5.1"]}"#;
        let msg = Message::from_line(line).unwrap();
        assert_eq!(
            msg,
            Message::Request(Request {
                id: Id::Num(1),
                method: "mining.subscribe".into(),
                params: vec![json!("cpuminer/2.5.1")],
            })
        );
        assert_eq!(msg.to_line(), line);
    }

    #[test]
    fn notification_has_null_id() {
        let line = r#"{"id":null,"method":"mining.set_difficulty","params":[0.5]}"#;
        let msg = Message::from_line(line).unwrap();
        assert!(matches!(msg, Message::Notification(_)));
        assert_eq!(msg.to_line(), line);
        // A missing id is a notification too.
        let msg = Message::from_line(r#"{"method":"mining.notify"}"#).unwrap();
        assert_eq!(
            msg,
            Message::Notification(Notification {
                method: "mining.notify".into(),
                params: vec![]
            })
        );
    }

    #[test]
    fn responses_with_and_without_error() {
        let ok = r#"{"id":2,"result":true,"error":null}"#;
        let msg = Message::from_line(ok).unwrap();
        assert_eq!(msg.to_line(), ok);
        let Message::Response(r) = msg else { panic!() };
        assert!(r.bool_result().unwrap());

        let err = r#"{"id":"a","result":null,"error":[23,"Low difficulty share",null]}"#;
        let msg = Message::from_line(err).unwrap();
        assert_eq!(msg.to_line(), err);
        let Message::Response(r) = msg else { panic!() };
        assert_eq!(r.id, Some(Id::from("a")));
        let e = r.error.clone().unwrap();
        assert_eq!(e.kind(), Some(ErrorCode::LowDifficulty));
        assert!(matches!(r.bool_result(), Err(ResponseError::Remote(_))));
        assert_eq!(
            Message::from(Response::err(None, ErrorCode::Other)).to_line(),
            r#"{"id":null,"result":null,"error":[20,"Other/Unknown",null]}"#
        );
    }

    #[test]
    fn envelope_errors() {
        for line in [
            "[]",
            "1",
            "{}",
            r#"{"id":1}"#,
            r#"{"id":1,"method":5}"#,
            r#"{"id":1.5,"method":"x"}"#,
            r#"{"id":[1],"method":"x"}"#,
            r#"{"id":1,"method":"x","params":{}}"#,
            r#"{"id":1,"result":null,"error":"boom"}"#,
        ] {
            assert!(
                matches!(
                    Message::from_line(line),
                    Err(ParseError::Envelope(_) | ParseError::Type { .. })
                ),
                "{line}"
            );
        }
        assert!(matches!(
            Message::from_line("{\"id\":"),
            Err(ParseError::Json(_))
        ));
        assert!(matches!(
            Message::from_slice(b"\xff\xfe"),
            Err(ParseError::Json(_))
        ));
    }

    #[test]
    fn bool_result_rejects_non_bool() {
        let r = Response::ok(Id::Num(1), json!("yes"));
        assert!(matches!(r.bool_result(), Err(ResponseError::Parse(_))));
    }
}
