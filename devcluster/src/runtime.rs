//! What the listeners, the ticker and the executor monitors share: the
//! state behind one mutex, the master addresses and which one leads, and
//! the tokio runtime effects run on. Locking the state gives a
//! [`StateGuard`]; when it is dropped it takes the [`Effect`]s the state
//! queued, releases the lock, and only then carries them out (see
//! [`crate::launcher`]), so no process start or file write happens under
//! the lock.
//!
//! [`Effect`]: crate::effect::Effect

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, PoisonError, Weak};

use crate::error::Error;
use crate::reply::{HttpError, Reply, StreamOwner};
use crate::state::State;

/// Shared by the listeners, the ticker and the process monitors.
pub(crate) struct Inner {
    state: Mutex<State>,
    masters: Mutex<Masters>,
    /// Itself, for the effects' tasks (which must not keep it alive).
    me: Weak<Inner>,
    /// Where executor monitors and process spawns run.
    pub(crate) runtime: tokio::runtime::Handle,
    /// Frameworks must authenticate when set.
    pub(crate) credentials: Option<crate::auth::Credentials>,
    /// Whether `/devcluster/faults/...` is served.
    pub(crate) fault_endpoints: bool,
}

/// The master addresses, which are listening, and which one leads.
#[derive(Debug)]
pub(crate) struct Masters {
    pub addrs: Vec<SocketAddr>,
    pub up: Vec<bool>,
    pub leader: usize,
}

/// What the master at one address does with a scheduler call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leading {
    /// It leads: it serves the call.
    Yes,
    /// Another master leads: `307` to it.
    Elsewhere(SocketAddr),
    /// The leader is gone and none took over: `503`.
    Nobody,
}

/// The locked state; its effects run once the lock is released.
pub(crate) struct StateGuard<'a> {
    inner: &'a Inner,
    guard: Option<MutexGuard<'a, State>>,
}

impl Deref for StateGuard<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        self.guard.as_ref().expect("held until dropped")
    }
}

impl DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.guard.as_mut().expect("held until dropped")
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        let effects = guard.take_effects();
        drop(guard);
        if effects.is_empty() {
            return;
        }
        if let Some(inner) = self.inner.me.upgrade() {
            crate::launcher::run(&inner, effects);
        }
    }
}

impl Inner {
    /// Must be called inside a tokio runtime.
    pub(crate) fn new(
        me: &Weak<Inner>,
        state: State,
        master_addrs: Vec<SocketAddr>,
        credentials: Option<crate::auth::Credentials>,
        fault_endpoints: bool,
    ) -> Self {
        Self {
            state: Mutex::new(state),
            masters: Mutex::new(Masters {
                up: vec![true; master_addrs.len()],
                addrs: master_addrs,
                leader: 0,
            }),
            me: me.clone(),
            runtime: tokio::runtime::Handle::current(),
            credentials,
            fault_endpoints,
        }
    }

    pub(crate) fn lock(&self) -> StateGuard<'_> {
        StateGuard {
            inner: self,
            guard: Some(self.state.lock().unwrap_or_else(PoisonError::into_inner)),
        }
    }

    pub(crate) fn masters(&self) -> MutexGuard<'_, Masters> {
        self.masters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the master at address `index` leads.
    pub(crate) fn leading(&self, index: usize) -> Leading {
        let masters = self.masters();
        if index == masters.leader {
            Leading::Yes
        } else if masters.up[masters.leader] {
            Leading::Elsewhere(masters.addrs[masters.leader])
        } else {
            Leading::Nobody
        }
    }

    pub(crate) fn scheduler_call(
        &self,
        call: mesos::v1::scheduler::Call,
        stream_id: Option<String>,
    ) -> Result<Reply, HttpError> {
        let mut state = self.lock();
        let reply = state.scheduler_call(call, stream_id);
        if state.allocation_needed {
            state.allocate();
        }
        reply
    }

    pub(crate) fn executor_call(
        &self,
        agent: usize,
        call: mesos::v1::executor::Call,
    ) -> Result<Reply, HttpError> {
        let mut state = self.lock();
        let reply = state.executor_call(agent, call);
        if state.allocation_needed {
            state.allocate();
        }
        reply
    }

    pub(crate) fn stream_closed(&self, owner: StreamOwner) {
        self.lock().stream_closed(owner);
    }

    /// A fault asked for over HTTP (`/devcluster/faults/<fault>`).
    pub(crate) fn http_fault(&self, fault: &str) -> Result<(), Error> {
        crate::faults::apply(&mut self.lock(), fault)
    }
}
