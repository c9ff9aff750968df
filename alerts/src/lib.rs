//! Alert webhooks, shared by the proxy and the scheduler.
//!
//! - [`event`]: what is sent: an [`Event`] (kind, time, source, summary, details) and its
//!   JSON body.
//! - [`detect`]: when to send, as pure state machines fed a clock by the caller:
//!   [`detect::WorkerWatch`] (a worker silent for N seconds, and back) and
//!   [`detect::RateWatch`] (the pool's hash rate below a threshold for some time, and back).
//! - [`sender`]: how: a bounded queue per webhook URL, drained by a task that POSTs each event
//!   with a timeout and retries with backoff. [`Sender::send`] never blocks or fails: a full
//!   queue drops the alert and counts it ([`Counters`]), so a dead endpoint costs alerts,
//!   never shares or blocks.
//! - [`SenderArgs`]: the webhook flags both programs take (one vocabulary).

pub mod detect;
pub mod event;
pub mod sender;

pub use event::{Event, Kind};
pub use sender::{check_url, Counters, Sender, SenderArgs, SenderConfig, SenderError};
