//! Any bytes from a peer, as one stratum line and through the line codec:
//! parsing must never panic, whichever way a message is interpreted.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum::{
    ClientRequest, ConfigureResult, Message, ServerMessage, StratumCodec, SubscribeResult,
};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::from_slice(data) {
        match &message {
            Message::Request(r) => {
                let _ = ClientRequest::from_request(r);
                let _ = ServerMessage::parse(&r.method, &r.params);
            }
            Message::Notification(n) => {
                let _ = ServerMessage::from_notification(n);
            }
            Message::Response(r) => {
                let _ = r.bool_result();
                let _ = SubscribeResult::from_value(&r.result);
                let _ = ConfigureResult::from_value(&r.result);
            }
        }
        let _ = message.to_line();
    }
    let mut codec = StratumCodec::new(1024);
    let mut buf = bytes::BytesMut::from(data);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
    let _ = codec.decode_eof(&mut buf);
});
