//! The two encodings of the v1 HTTP API, in one place: protobuf
//! (`application/x-protobuf`, the default) and JSON (`application/json`).
//!
//! A call's body is encoded in its `Content-Type`; the answer (a SUBSCRIBE's
//! RecordIO event stream, each record one event) in the type its `Accept`
//! asked for. JSON is Mesos' own mapping (see [`crate::v1`]): .proto field
//! names, enums by name, bytes as base64, e.g.
//! `{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"f1"}}}`.
//!
//! Clients pick one with [`ClientConfig::content_type`](crate::client::ClientConfig);
//! servers (devcluster) read a call with [`ContentType::from_mime`] and
//! choose the answer's type with [`ContentType::from_accept`].

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Media type of protobuf bodies.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
/// Media type of JSON bodies.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// A message either encoding can carry: every generated [`crate::v1`] type
/// (prost for protobuf, pbjson's serde impls for JSON). Use it as the bound
/// of code generic over calls and events.
pub trait WireMessage: prost::Message + Default + Serialize + DeserializeOwned {}

impl<M: prost::Message + Default + Serialize + DeserializeOwned> WireMessage for M {}

/// How calls and events are encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ContentType {
    /// `application/x-protobuf`: compact, what Mesos' own libraries speak.
    #[default]
    Protobuf,
    /// `application/json`: readable, what `curl` users and many other
    /// frameworks speak.
    Json,
}

/// Why a body could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Not a valid protobuf message of the expected type.
    #[error("invalid protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// Not valid JSON for the expected message (or, encoding, an enum field
    /// holding a number that names no value).
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl ContentType {
    /// Both, protobuf first.
    pub const ALL: [Self; 2] = [Self::Protobuf, Self::Json];

    /// The media type, for `Content-Type` and `Accept` headers.
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Protobuf => PROTOBUF_CONTENT_TYPE,
            Self::Json => JSON_CONTENT_TYPE,
        }
    }

    /// The short name used on command lines: `protobuf` or `json`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Protobuf => "protobuf",
            Self::Json => "json",
        }
    }

    /// The type a `Content-Type` header names, parameters (`; charset=utf-8`)
    /// and case ignored; `None` for anything else.
    pub fn from_mime(value: &str) -> Option<Self> {
        let media = value.split(';').next().unwrap_or("").trim();
        Self::ALL
            .into_iter()
            .find(|kind| media.eq_ignore_ascii_case(kind.mime()))
    }

    /// The type to answer in, given a request's `Accept` header. A missing
    /// or empty header, `*/*` and `application/*` mean `preferred` (servers
    /// pass the request's own `Content-Type`); among the types named, the
    /// preferred one wins; ranges with `q=0` are refused. `None`: nothing
    /// acceptable (406).
    pub fn from_accept(accept: Option<&str>, preferred: Self) -> Option<Self> {
        let Some(accept) = accept.map(str::trim).filter(|accept| !accept.is_empty()) else {
            return Some(preferred);
        };
        let mut wildcard = false;
        let mut named = Vec::new();
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let refused = parts.any(|parameter| {
                parameter
                    .trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            if media == "*/*" || media.eq_ignore_ascii_case("application/*") {
                wildcard = true;
            } else if let Some(kind) = Self::from_mime(media) {
                named.push(kind);
            }
        }
        if named.contains(&preferred) || (named.is_empty() && wildcard) {
            Some(preferred)
        } else {
            named.first().copied()
        }
    }

    /// `message` as a body of this type.
    pub fn encode<M: prost::Message + Serialize>(self, message: &M) -> Result<Bytes, CodecError> {
        Ok(match self {
            Self::Protobuf => message.encode_to_vec().into(),
            Self::Json => serde_json::to_vec(message)?.into(),
        })
    }

    /// A body (or one RecordIO record) of this type as an `M`.
    pub fn decode<M: WireMessage>(self, body: Bytes) -> Result<M, CodecError> {
        Ok(match self {
            Self::Protobuf => M::decode(body)?,
            Self::Json => serde_json::from_slice(&body)?,
        })
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a content type name was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown content type {0:?} (expected protobuf or json)")]
pub struct UnknownContentType(pub String);

impl FromStr for ContentType {
    type Err = UnknownContentType;

    /// `protobuf` / `json` (any case), or a media type.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        Self::ALL
            .into_iter()
            .find(|kind| trimmed.eq_ignore_ascii_case(kind.name()))
            .or_else(|| Self::from_mime(trimmed))
            .ok_or_else(|| UnknownContentType(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1;

    #[test]
    fn names_and_media_types() {
        for kind in ContentType::ALL {
            assert_eq!(kind.name().parse::<ContentType>().unwrap(), kind);
            assert_eq!(kind.mime().parse::<ContentType>().unwrap(), kind);
            assert_eq!(kind.to_string(), kind.name());
        }
        assert_eq!(ContentType::default(), ContentType::Protobuf);
        assert_eq!("JSON".parse::<ContentType>().unwrap(), ContentType::Json);
        assert!("xml".parse::<ContentType>().is_err());
        assert_eq!(
            ContentType::from_mime("Application/JSON; charset=utf-8"),
            Some(ContentType::Json)
        );
        assert_eq!(ContentType::from_mime("text/plain"), None);
    }

    #[test]
    fn accept_negotiation() {
        use ContentType::{Json, Protobuf};
        assert_eq!(ContentType::from_accept(None, Json), Some(Json));
        assert_eq!(ContentType::from_accept(Some(""), Protobuf), Some(Protobuf));
        assert_eq!(ContentType::from_accept(Some("*/*"), Json), Some(Json));
        assert_eq!(
            ContentType::from_accept(Some("application/json"), Protobuf),
            Some(Json)
        );
        assert_eq!(
            ContentType::from_accept(Some("application/x-protobuf, */*;q=0.1"), Json),
            Some(Protobuf)
        );
        assert_eq!(
            ContentType::from_accept(Some("application/x-protobuf, application/json"), Json),
            Some(Json)
        );
        assert_eq!(ContentType::from_accept(Some("text/html"), Json), None);
        assert_eq!(
            ContentType::from_accept(Some("application/json;q=0"), Json),
            None
        );
    }

    #[test]
    fn both_encodings_round_trip() {
        let id = v1::FrameworkId {
            value: "fw-1".into(),
        };
        for kind in ContentType::ALL {
            let body = kind.encode(&id).unwrap();
            assert_eq!(kind.decode::<v1::FrameworkId>(body).unwrap(), id);
        }
        assert_eq!(
            ContentType::Json.encode(&id).unwrap(),
            Bytes::from_static(br#"{"value":"fw-1"}"#)
        );
        assert!(matches!(
            ContentType::Json.decode::<v1::FrameworkId>(Bytes::from_static(b"{")),
            Err(CodecError::Json(_))
        ));
        assert!(matches!(
            ContentType::Protobuf.decode::<v1::FrameworkId>(Bytes::from_static(b"\xff")),
            Err(CodecError::Protobuf(_))
        ));
    }
}
