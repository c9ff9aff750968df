//! The endless body of a SUBSCRIBE response, as a stream of decoded events:
//! HTTP chunks go through the RecordIO [`Decoder`], each record is decoded as
//! one event in the stream's [`ContentType`] (a protobuf message or a JSON
//! object).

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Body as _;
use hyper::body::Incoming;
use tracing::{debug, trace};

use super::ClientError;
use crate::recordio::Decoder;
use crate::{ContentType, WireMessage};

/// Events of type `E` read from a subscription. Ends (`None`) when the server
/// closes the stream, which for Mesos means: resubscribe. After an error it
/// yields nothing more.
///
/// Use [`EventStream::next`], or the [`futures_core::Stream`] impl with any
/// stream combinator library.
pub struct EventStream<E> {
    body: Incoming,
    decoder: Decoder,
    content_type: ContentType,
    done: bool,
    _event: PhantomData<fn() -> E>,
}

impl<E> std::fmt::Debug for EventStream<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("content_type", &self.content_type)
            .field("buffered", &self.decoder.buffered_len())
            .field("done", &self.done)
            .finish()
    }
}

impl<E: WireMessage> EventStream<E> {
    pub(crate) fn new(body: Incoming, max_record_len: usize, content_type: ContentType) -> Self {
        Self {
            body,
            decoder: Decoder::new(max_record_len),
            content_type,
            done: false,
            _event: PhantomData,
        }
    }

    /// How the events are encoded.
    pub fn content_type(&self) -> ContentType {
        self.content_type
    }

    /// The next event; `None` once the stream has ended.
    pub async fn next(&mut self) -> Option<Result<E, ClientError>> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<E, ClientError>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match self.decoder.next_record() {
                Ok(Some(record)) => return Poll::Ready(Some(self.decode(record))),
                Ok(None) => {}
                Err(error) => return Poll::Ready(Some(self.fail(error.into()))),
            }
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        trace!(bytes = data.len(), "event stream chunk");
                        self.decoder.feed(&data);
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    return Poll::Ready(Some(self.fail(error.into())));
                }
                Poll::Ready(None) => {
                    self.done = true;
                    debug!("event stream closed by the server");
                    if let Err(error) = self.decoder.finish() {
                        return Poll::Ready(Some(Err(error.into())));
                    }
                }
            }
        }
    }

    fn decode(&mut self, record: Bytes) -> Result<E, ClientError> {
        self.content_type
            .decode(record)
            .or_else(|error| self.fail(error.into()))
    }

    fn fail(&mut self, error: ClientError) -> Result<E, ClientError> {
        self.done = true;
        debug!(%error, "event stream failed");
        Err(error)
    }
}

impl<E: WireMessage> futures_core::Stream for EventStream<E> {
    type Item = Result<E, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx)
    }
}
