//! Generated protobuf types of the Mesos v1 API (package `mesos.v1`), with the
//! scheduler and executor call/event messages in [`scheduler`] and
//! [`executor`].
//!
//! Decoding follows protobuf rules: fields this subset does not model are
//! skipped, so messages from a real Mesos (or a newer one) decode fine; they
//! are dropped, not kept, so re-encoding such a message loses them. Enum
//! fields are `i32` with typed getters (e.g. `TaskStatus::state()`), and an
//! enum value we do not know reads as the enum's default through the getter.

include!(concat!(env!("OUT_DIR"), "/mesos.v1.rs"));

/// Calls a framework scheduler sends to the master and the events it receives.
pub mod scheduler {
    include!(concat!(env!("OUT_DIR"), "/mesos.v1.scheduler.rs"));
}

/// Calls an executor sends to its agent and the events it receives.
pub mod executor {
    include!(concat!(env!("OUT_DIR"), "/mesos.v1.executor.rs"));
}

impl TaskState {
    /// Whether Mesos treats the state as final: the task will send no more
    /// updates (`TASK_UNREACHABLE` and `TASK_UNKNOWN` are not final).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::TaskFinished
                | TaskState::TaskFailed
                | TaskState::TaskKilled
                | TaskState::TaskError
                | TaskState::TaskLost
                | TaskState::TaskDropped
                | TaskState::TaskGone
                | TaskState::TaskGoneByOperator
        )
    }
}

#[cfg(test)]
mod wire_tests;
