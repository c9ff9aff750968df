//! Persisted scheduler state: the framework id (for failover) and the task
//! book (tasks, id counters, backoffs), as JSON in `<state dir>/state.json`.
//!
//! Saving is atomic: write `state.json.tmp`, fsync it, rename it over
//! `state.json`, fsync the directory. A crash leaves either the old or the
//! new state, never a torn one. The driver saves after handling each event
//! and before sending the resulting calls, so a restarted scheduler
//! re-subscribes with the same `FrameworkInfo.id` and knows every task it may
//! have launched: reconciliation then neither duplicates nor orphans them.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::debug;

use crate::error::StateError;
use crate::tasks::TaskBook;

/// The state file format version this build reads and writes.
pub const STATE_VERSION: u32 = 1;

const STATE_FILE: &str = "state.json";
const TEMP_FILE: &str = "state.json.tmp";

/// Everything that survives a scheduler restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistedState {
    /// Format version ([`STATE_VERSION`]).
    pub version: u32,
    /// The id the master gave us; set on every later SUBSCRIBE.
    pub framework_id: Option<String>,
    /// Our tasks, counters and backoffs.
    pub book: TaskBook,
}

impl Default for PersistedState {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            framework_id: None,
            book: TaskBook::default(),
        }
    }
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    /// A store in `dir` (created on the first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The state file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// The saved state, or `None` on a first start (no state file).
    pub fn load(&self) -> Result<Option<PersistedState>, StateError> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        let state: PersistedState =
            serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt {
                path: path.clone(),
                source,
            })?;
        if state.version != STATE_VERSION {
            return Err(StateError::Version {
                path,
                found: state.version,
                expected: STATE_VERSION,
            });
        }
        Ok(Some(state))
    }

    /// Saves `state` atomically.
    pub fn save(&self, state: &PersistedState) -> Result<(), StateError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StateError::Io { path, source }
        };
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let json = serde_json::to_vec_pretty(state).map_err(|source| StateError::Corrupt {
            path: self.path(),
            source,
        })?;
        let temp = self.dir.join(TEMP_FILE);
        {
            let mut file = File::create(&temp).map_err(io(&temp))?;
            file.write_all(&json).map_err(io(&temp))?;
            file.sync_all().map_err(io(&temp))?;
        }
        let path = self.path();
        fs::rename(&temp, &path).map_err(io(&path))?;
        // Make the rename itself durable.
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io(&self.dir))?;
        debug!(path = %path.display(), bytes = json.len(), "state saved");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::tests::record;
    use crate::tasks::{TaskRole, TaskState};

    #[test]
    fn missing_state_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(StateStore::new(dir.path().join("sub"))
            .load()
            .unwrap()
            .is_none());
    }

    #[test]
    fn round_trip_and_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join("state"));
        let mut state = PersistedState {
            framework_id: Some("fw-1".into()),
            ..Default::default()
        };
        state.book.next_proxy_id();
        state
            .book
            .insert(record("proxy-1", TaskRole::Proxy, "a1", TaskState::Running));
        store.save(&state).unwrap();
        assert_eq!(store.load().unwrap().unwrap(), state);

        state.framework_id = Some("fw-2".into());
        store.save(&state).unwrap();
        assert_eq!(
            store.load().unwrap().unwrap().framework_id.as_deref(),
            Some("fw-2")
        );
        assert!(!dir.path().join("state").join(TEMP_FILE).exists());
        // Task states are stored by name.
        let text = fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("\"RUNNING\""), "{text}");
    }

    #[test]
    fn corrupt_and_future_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        fs::write(store.path(), b"{not json").unwrap();
        assert!(matches!(store.load(), Err(StateError::Corrupt { .. })));
        let future = PersistedState {
            version: STATE_VERSION + 1,
            ..Default::default()
        };
        fs::write(store.path(), serde_json::to_vec(&future).unwrap()).unwrap();
        assert!(matches!(store.load(), Err(StateError::Version { .. })));
    }
}
