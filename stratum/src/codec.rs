//! Line framing: one JSON message per `\n`-terminated line, with a maximum line length.
//!
//! [`StratumCodec`] is a `tokio_util::codec` decoder/encoder, so a session is simply
//! `Framed::new(tcp_stream, StratumCodec::default())`.
//!
//! Decoding separates two kinds of failure:
//! * a line that is not a valid message yields `Ok(Some(Err(ParseError)))`: the stream goes on,
//!   and a server can answer with error 20;
//! * a line longer than the limit (or an I/O error) is a [`CodecError`], which ends the stream:
//!   a peer that sends megabytes without a newline is not speaking stratum.
//!
//! A trailing `\r` is removed and blank lines are skipped. Encoding writes the line and `\n`.

use bytes::{BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::ParseError;
use crate::message::Message;

/// Default maximum line length in bytes. Large enough for a `mining.notify` whose coinbase
/// pays a few hundred outputs.
pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024;

/// Fatal framing errors.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A line (received or to be sent) exceeds the maximum length.
    #[error("stratum line longer than {max} bytes")]
    LineTooLong {
        /// The limit in force.
        max: usize,
    },
    /// The underlying transport failed.
    #[error("stratum transport: {0}")]
    Io(#[from] std::io::Error),
}

/// Newline-delimited stratum message codec with a line-length bound.
#[derive(Debug, Clone)]
pub struct StratumCodec {
    max_line_len: usize,
    /// How far the buffer has already been searched for a newline.
    scanned: usize,
}

impl Default for StratumCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE_LEN)
    }
}

impl StratumCodec {
    /// A codec accepting lines of at most `max_line_len` bytes (excluding the newline).
    pub fn new(max_line_len: usize) -> Self {
        Self {
            max_line_len,
            scanned: 0,
        }
    }

    /// The limit in force.
    pub fn max_line_len(&self) -> usize {
        self.max_line_len
    }

    fn too_long(&self) -> CodecError {
        CodecError::LineTooLong {
            max: self.max_line_len,
        }
    }
}

fn trim(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., last] = line {
        if last.is_ascii_whitespace() {
            line = rest;
        } else {
            break;
        }
    }
    while let [first, rest @ ..] = line {
        if first.is_ascii_whitespace() {
            line = rest;
        } else {
            break;
        }
    }
    line
}

impl Decoder for StratumCodec {
    type Item = Result<Message, ParseError>;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        loop {
            let newline = buf[self.scanned..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|i| self.scanned + i);
            let Some(pos) = newline else {
                if buf.len() > self.max_line_len {
                    return Err(self.too_long());
                }
                self.scanned = buf.len();
                return Ok(None);
            };
            self.scanned = 0;
            let line = buf.split_to(pos + 1);
            let body = &line[..pos];
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            if body.len() > self.max_line_len {
                return Err(self.too_long());
            }
            let body = trim(body);
            if body.is_empty() {
                continue;
            }
            let parsed = Message::from_slice(body);
            if let Err(e) = &parsed {
                tracing::debug!(error = %e, "unparseable stratum line");
            }
            return Ok(Some(parsed));
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        if let Some(item) = self.decode(buf)? {
            return Ok(Some(item));
        }
        // A last line without its newline.
        self.scanned = 0;
        let rest = buf.split_to(buf.len());
        let body = trim(&rest);
        if body.is_empty() {
            Ok(None)
        } else {
            Ok(Some(Message::from_slice(body)))
        }
    }
}

impl<T: Into<Message>> Encoder<T> for StratumCodec {
    type Error = CodecError;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), CodecError> {
        let line = item.into().to_line();
        if line.len() > self.max_line_len {
            return Err(self.too_long());
        }
        dst.reserve(line.len() + 1);
        dst.put_slice(line.as_bytes());
        dst.put_u8(b'\n');
        Ok(())
    }
}

/// A message serialized once and sent many times (the same `mining.notify` to every
/// connection): the encoder copies its bytes instead of serializing it again. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line(bytes::Bytes);

impl Line {
    /// Serializes `message` (without the newline).
    pub fn new(message: impl Into<Message>) -> Self {
        Self(bytes::Bytes::from(message.into().to_line()))
    }

    /// The serialized message, without the newline.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Encoder<&Line> for StratumCodec {
    type Error = CodecError;

    fn encode(&mut self, line: &Line, dst: &mut BytesMut) -> Result<(), CodecError> {
        if line.0.len() > self.max_line_len {
            return Err(self.too_long());
        }
        dst.reserve(line.0.len() + 1);
        dst.put_slice(&line.0);
        dst.put_u8(b'\n');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Id, Notification, Response};
    use futures_util::{SinkExt, StreamExt};
    use proptest::prelude::*;
    use serde_json::json;
    use tokio_util::codec::{FramedRead, FramedWrite};

    fn decode_all(codec: &mut StratumCodec, bytes: &[u8]) -> Vec<Result<Message, ParseError>> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            out.push(item);
        }
        if let Some(item) = codec.decode_eof(&mut buf).unwrap() {
            out.push(item);
        }
        out
    }

    #[test]
    fn splits_lines_skips_blanks_and_crlf() {
        let input = b"{\"id\":1,\"result\":true,\"error\":null}\r\n\n  \r\n{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[2]}\nnot json\n{\"id\":2,\"result\":false,\"error\":null}";
        let items = decode_all(&mut StratumCodec::default(), input);
        assert_eq!(items.len(), 4);
        assert!(matches!(items[0], Ok(Message::Response(_))));
        assert!(matches!(items[1], Ok(Message::Notification(_))));
        assert!(matches!(items[2], Err(ParseError::Json(_))));
        assert!(
            matches!(items[3], Ok(Message::Response(_))),
            "last line without newline"
        );
    }

    #[test]
    fn partial_lines_wait_for_more() {
        let mut codec = StratumCodec::default();
        let mut buf = BytesMut::from(&b"{\"id\":1,\"res"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"ult\":true,\"error\":null}\n");
        assert!(matches!(
            codec.decode(&mut buf).unwrap(),
            Some(Ok(Message::Response(_)))
        ));
        assert!(buf.is_empty());
    }

    #[test]
    fn overlong_lines_are_fatal() {
        let mut codec = StratumCodec::new(16);
        // Without a newline: detected as soon as the buffer passes the limit.
        let mut buf = BytesMut::from(&[b'x'; 17][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::LineTooLong { max: 16 })
        ));
        // With one.
        let mut codec = StratumCodec::new(16);
        let mut buf = BytesMut::from(&b"{\"id\":1,\"result\":true}\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::LineTooLong { .. })
        ));
        // Exactly at the limit is fine.
        let mut codec = StratumCodec::new(16);
        let mut buf = BytesMut::from(&b"{\"result\":true}\r\n"[..]);
        assert!(matches!(codec.decode(&mut buf), Ok(Some(Ok(_)))));
        // Encoding refuses too.
        let mut out = BytesMut::new();
        let big = Response::ok(Id::Num(1), json!("a long enough result"));
        assert!(codec.encode(big, &mut out).is_err());
    }

    #[test]
    fn a_line_encodes_as_its_message_does_and_keeps_the_limit() {
        let message = Notification {
            method: "mining.set_difficulty".into(),
            params: vec![json!(0.5)],
        };
        let mut codec = StratumCodec::default();
        let (mut direct, mut cached) = (BytesMut::new(), BytesMut::new());
        codec.encode(message.clone(), &mut direct).unwrap();
        let line = Line::new(message);
        codec.encode(&line, &mut cached).unwrap();
        codec.encode(&line, &mut cached).unwrap();
        assert_eq!(&cached[..direct.len()], &direct[..]);
        assert_eq!(&cached[direct.len()..], &direct[..]);
        assert_eq!(line.as_bytes().len() + 1, direct.len());
        let mut small = StratumCodec::new(line.as_bytes().len() - 1);
        assert!(matches!(
            small.encode(&line, &mut BytesMut::new()),
            Err(CodecError::LineTooLong { .. })
        ));
    }

    #[tokio::test]
    async fn framed_over_a_duplex_pipe() {
        let (a, b) = tokio::io::duplex(64);
        let mut tx = FramedWrite::new(a, StratumCodec::default());
        let mut rx = FramedRead::new(b, StratumCodec::default());
        let sent: Vec<Message> = vec![
            Response::ok(Id::Num(1), json!(true)).into(),
            Notification {
                method: "client.show_message".into(),
                params: vec![json!("x".repeat(200))],
            }
            .into(),
        ];
        let writer = {
            let sent = sent.clone();
            tokio::spawn(async move {
                for m in sent {
                    tx.send(m).await.unwrap();
                }
            })
        };
        for expected in &sent {
            let got = rx.next().await.unwrap().unwrap().unwrap();
            assert_eq!(&got, expected);
        }
        writer.await.unwrap();
        assert!(rx.next().await.is_none());
    }

    proptest! {
        /// Arbitrary bytes in arbitrary chunks: items or errors, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..2048),
            chunk in 1usize..300,
            max in 1usize..512,
        ) {
            let mut codec = StratumCodec::new(max);
            let mut buf = BytesMut::new();
            'outer: for piece in bytes.chunks(chunk) {
                buf.extend_from_slice(piece);
                loop {
                    match codec.decode(&mut buf) {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => break 'outer,
                    }
                }
            }
            let _ = codec.decode_eof(&mut buf);
        }

        /// The parser directly, on arbitrary bytes and on arbitrary text.
        #[test]
        fn arbitrary_lines_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), text in ".{0,256}") {
            let _ = Message::from_slice(&bytes);
            if let Ok(Message::Request(r)) = Message::from_line(&text) {
                let _ = crate::methods::ClientRequest::from_request(&r);
            }
        }

        /// Mutations of well-formed lines (the interesting neighbourhood for a parser).
        #[test]
        fn mutated_lines_never_panic(
            which in 0usize..4,
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            const LINES: [&str; 4] = [
                r#"{"id":4,"method":"mining.submit","params":["w","bf","00000001","504e86ed","b2957c02","00a0e000"]}"#,
                r#"{"id":null,"method":"mining.notify","params":["bf","4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000","01","02",[],"00000002","1c2ac4af","504e86b9",false]}"#,
                r#"{"id":1,"result":[[["mining.notify","ae68"]],"08000002",4],"error":null}"#,
                r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}"#,
            ];
            let mut line = LINES[which].as_bytes().to_vec();
            let i = at.index(line.len());
            line[i] = byte;
            if let Ok(msg) = Message::from_slice(&line) {
                match &msg {
                    Message::Request(r) => { let _ = crate::methods::ClientRequest::from_request(r); }
                    Message::Notification(n) => { let _ = crate::methods::ServerMessage::from_notification(n); }
                    Message::Response(r) => { let _ = crate::methods::SubscribeResult::from_value(&r.result); }
                }
                let _ = msg.to_line();
            }
        }
    }
}
