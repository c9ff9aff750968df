//! The proxy's integration tests (a real stratum server and HTTP side on loopback, a fake node), in one
//! test binary (one link instead of one per file); each module is one area.

mod common;

mod bad_input;
mod flags;
mod http;
mod http_limits;
mod journal_disk;
mod robustness;
mod segwit_block;
mod sessions;
