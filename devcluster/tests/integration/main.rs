//! devcluster's cross-process tests (a cluster on loopback, the test executor), in one
//! test binary (one link instead of one per file); each module is one area.

mod common;

mod cluster;
mod command_executor;
mod guards;
mod hosts;
mod leader;
mod maintenance;
mod oversubscription;
mod partition;
mod scale;
mod state;
mod volumes;
