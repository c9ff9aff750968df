//! RecordIO, the framing of Mesos event streams: each record is its length in
//! ASCII decimal, a `\n`, then exactly that many bytes (`5\nhello`).
//!
//! [`encode`] frames one record. [`Decoder`] takes the stream in whatever
//! chunks the transport delivers (a record may straddle chunks, a chunk may
//! hold several records) and hands back whole records. It refuses records
//! longer than its limit and malformed length lines with a [`RecordIoError`];
//! after an error the stream is unusable and the decoder keeps reporting it.

use bytes::{Buf, Bytes, BytesMut};

/// Default limit on one record: far above any Mesos event we expect (a large
/// OFFERS event is tens of KiB), low enough to stop a runaway length.
pub const DEFAULT_MAX_RECORD_LEN: usize = 16 * 1024 * 1024;

/// Digits in `u64::MAX`; a longer length line cannot be valid.
const MAX_LENGTH_DIGITS: usize = 20;

/// Why a RecordIO stream cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordIoError {
    /// The length line held something other than ASCII digits, or nothing.
    #[error("malformed RecordIO length line {line:?}")]
    MalformedLength {
        /// The offending line (lossily decoded, without the `\n`).
        line: String,
    },
    /// The announced record is longer than the decoder accepts.
    #[error("RecordIO record of {len} bytes exceeds the limit of {max} bytes")]
    RecordTooLong {
        /// Announced length (saturated at `u64::MAX`).
        len: u64,
        /// The decoder's limit.
        max: usize,
    },
    /// The stream ended inside a record or a length line.
    #[error("RecordIO stream ended with {buffered} bytes of an incomplete record")]
    Truncated {
        /// Bytes received for the unfinished record (length line included).
        buffered: usize,
    },
}

/// Appends one framed record to `out`.
pub fn encode(record: &[u8], out: &mut BytesMut) {
    out.reserve(MAX_LENGTH_DIGITS + 1 + record.len());
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.extend_from_slice(b"\n");
    out.extend_from_slice(record);
}

/// One framed record as a fresh buffer.
pub fn encode_to_bytes(record: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    encode(record, &mut out);
    out.freeze()
}

/// Frames a protobuf message: what a server writes for each event.
pub fn encode_message<M: prost::Message>(message: &M) -> Bytes {
    encode_to_bytes(&message.encode_to_vec())
}

/// Incremental RecordIO decoder.
#[derive(Debug)]
pub struct Decoder {
    buffer: BytesMut,
    max_record_len: usize,
    /// Length of the record whose bytes we are waiting for, once its length
    /// line has been read.
    pending_len: Option<usize>,
    failed: Option<RecordIoError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RECORD_LEN)
    }
}

impl Decoder {
    /// A decoder refusing records longer than `max_record_len` bytes.
    pub fn new(max_record_len: usize) -> Self {
        Self {
            buffer: BytesMut::new(),
            max_record_len,
            pending_len: None,
            failed: None,
        }
    }

    /// Adds the next chunk of the stream.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.failed.is_none() {
            self.buffer.extend_from_slice(chunk);
        }
    }

    /// The next complete record, `Ok(None)` if more input is needed.
    pub fn next_record(&mut self) -> Result<Option<Bytes>, RecordIoError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.try_next_record();
        if let Err(error) = &result {
            self.failed = Some(error.clone());
            self.buffer.clear();
        }
        result
    }

    /// Call when the stream has ended: fails if a record was cut short.
    pub fn finish(&self) -> Result<(), RecordIoError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.buffer.is_empty() && self.pending_len.is_none() {
            Ok(())
        } else {
            Err(RecordIoError::Truncated {
                buffered: self.buffer.len(),
            })
        }
    }

    /// Bytes received but not yet returned as records.
    pub fn buffered_len(&self) -> usize {
        self.buffer.len()
    }

    fn try_next_record(&mut self) -> Result<Option<Bytes>, RecordIoError> {
        let len = match self.pending_len {
            Some(len) => len,
            None => match self.read_length_line()? {
                Some(len) => len,
                None => return Ok(None),
            },
        };
        if self.buffer.len() < len {
            self.pending_len = Some(len);
            return Ok(None);
        }
        self.pending_len = None;
        Ok(Some(self.buffer.split_to(len).freeze()))
    }

    /// Parses and consumes a length line, if a whole one is buffered.
    fn read_length_line(&mut self) -> Result<Option<usize>, RecordIoError> {
        let Some(newline) = self.buffer.iter().position(|&byte| byte == b'\n') else {
            if self.buffer.len() > MAX_LENGTH_DIGITS || !is_all_digits(&self.buffer) {
                return Err(malformed(&self.buffer));
            }
            return Ok(None);
        };
        let line = &self.buffer[..newline];
        if line.is_empty() || line.len() > MAX_LENGTH_DIGITS || !is_all_digits(line) {
            return Err(malformed(line));
        }
        let len = line.iter().fold(0u64, |len, &digit| {
            len.saturating_mul(10)
                .saturating_add(u64::from(digit - b'0'))
        });
        if len > self.max_record_len as u64 {
            return Err(RecordIoError::RecordTooLong {
                len,
                max: self.max_record_len,
            });
        }
        self.buffer.advance(newline + 1);
        // Cannot truncate: len <= max_record_len, a usize.
        Ok(Some(len as usize))
    }
}

fn is_all_digits(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_digit)
}

fn malformed(line: &[u8]) -> RecordIoError {
    const SHOWN: usize = 64;
    RecordIoError::MalformedLength {
        line: String::from_utf8_lossy(&line[..line.len().min(SHOWN)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(decoder: &mut Decoder) -> Result<Vec<Bytes>, RecordIoError> {
        let mut records = Vec::new();
        while let Some(record) = decoder.next_record()? {
            records.push(record);
        }
        Ok(records)
    }

    #[test]
    fn encodes_length_newline_bytes() {
        assert_eq!(&encode_to_bytes(b"hello")[..], b"5\nhello");
        assert_eq!(&encode_to_bytes(b"")[..], b"0\n");
        let mut out = BytesMut::new();
        encode(b"ab", &mut out);
        encode(&[7u8; 12], &mut out);
        let mut expected = b"2\nab12\n".to_vec();
        expected.extend_from_slice(&[7u8; 12]);
        assert_eq!(&out[..], &expected[..]);
    }

    #[test]
    fn decodes_several_records_from_one_chunk() {
        let mut decoder = Decoder::default();
        decoder.feed(b"3\nabc5\nhello0\n1\nz");
        let records = decode_all(&mut decoder).unwrap();
        assert_eq!(records, vec![&b"abc"[..], b"hello", b"", b"z"]);
        decoder.finish().unwrap();
    }

    #[test]
    fn decodes_records_split_byte_by_byte() {
        let mut stream = BytesMut::new();
        encode(b"first record", &mut stream);
        encode(&[0u8; 300], &mut stream);
        let mut decoder = Decoder::default();
        let mut records = Vec::new();
        for byte in stream.iter() {
            decoder.feed(&[*byte]);
            records.extend(decode_all(&mut decoder).unwrap());
        }
        assert_eq!(
            records,
            vec![
                Bytes::from_static(b"first record"),
                Bytes::from(vec![0u8; 300])
            ]
        );
        decoder.finish().unwrap();
    }

    #[test]
    fn waits_for_the_rest_of_a_record() {
        let mut decoder = Decoder::default();
        decoder.feed(b"10\nhalf");
        assert_eq!(decoder.next_record().unwrap(), None);
        assert_eq!(
            decoder.finish(),
            Err(RecordIoError::Truncated { buffered: 4 })
        );
        decoder.feed(b"-done");
        assert_eq!(decoder.next_record().unwrap(), None);
        decoder.feed(b"!");
        assert_eq!(&decoder.next_record().unwrap().unwrap()[..], b"half-done!");
        assert_eq!(decoder.buffered_len(), 0);
    }

    #[test]
    fn refuses_records_over_the_limit_before_buffering_them() {
        let mut decoder = Decoder::new(8);
        decoder.feed(b"8\n12345678");
        assert_eq!(&decoder.next_record().unwrap().unwrap()[..], b"12345678");
        decoder.feed(b"9\n");
        assert_eq!(
            decoder.next_record(),
            Err(RecordIoError::RecordTooLong { len: 9, max: 8 })
        );
        // The stream stays failed.
        decoder.feed(b"1\na");
        assert!(decoder.next_record().is_err());
        assert!(decoder.finish().is_err());
    }

    #[test]
    fn saturates_absurd_lengths() {
        let mut decoder = Decoder::default();
        decoder.feed(b"99999999999999999999\n");
        assert_eq!(
            decoder.next_record(),
            Err(RecordIoError::RecordTooLong {
                len: u64::MAX,
                max: DEFAULT_MAX_RECORD_LEN
            })
        );
    }

    #[test]
    fn rejects_malformed_length_lines() {
        for input in [
            &b"\nabc"[..],
            b"12a\n",
            b"-1\n",
            b" 3\nabc",
            b"3\r\nabc",
            b"{\"type\":",
            b"123456789012345678901",
        ] {
            let mut decoder = Decoder::default();
            decoder.feed(input);
            let error = decoder.next_record().unwrap_err();
            assert!(
                matches!(error, RecordIoError::MalformedLength { .. }),
                "{input:?} gave {error:?}"
            );
        }
    }

    #[test]
    fn error_messages_name_the_problem() {
        let mut decoder = Decoder::new(4);
        decoder.feed(b"x1\n");
        assert_eq!(
            decoder.next_record().unwrap_err().to_string(),
            "malformed RecordIO length line \"x1\""
        );
        let mut decoder = Decoder::new(4);
        decoder.feed(b"5\n");
        assert_eq!(
            decoder.next_record().unwrap_err().to_string(),
            "RecordIO record of 5 bytes exceeds the limit of 4 bytes"
        );
    }

    #[test]
    fn frames_protobuf_messages() {
        let id = crate::v1::TaskId { value: "t1".into() };
        // TaskID{value: "t1"} is 0x0a 0x02 't' '1'.
        assert_eq!(&encode_message(&id)[..], b"4\n\x0a\x02t1");
    }

    proptest! {
        #[test]
        fn any_chunking_yields_the_same_records(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
        ) {
            let mut stream = BytesMut::new();
            for record in &records {
                encode(record, &mut stream);
            }
            let mut offsets: Vec<usize> = cuts.iter().map(|cut| cut.index(stream.len() + 1)).collect();
            offsets.push(0);
            offsets.push(stream.len());
            offsets.sort_unstable();

            let mut decoder = Decoder::new(300);
            let mut decoded = Vec::new();
            for pair in offsets.windows(2) {
                decoder.feed(&stream[pair[0]..pair[1]]);
                decoded.extend(decode_all(&mut decoder).unwrap());
            }
            decoder.finish().unwrap();
            let decoded: Vec<Vec<u8>> = decoded.into_iter().map(|record| record.to_vec()).collect();
            prop_assert_eq!(decoded, records);
        }

        #[test]
        fn arbitrary_input_never_panics(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16),
        ) {
            let mut decoder = Decoder::new(1024);
            for chunk in &chunks {
                decoder.feed(chunk);
                while let Ok(Some(_)) = decoder.next_record() {}
            }
            let _ = decoder.finish();
        }
    }
}
