//! The pool proxy: sits between a node and stratum v1 miners, turning the node's block
//! templates into stratum jobs and the miners' shares into blocks.
//!
//! Data flows one way, node -> proxy -> miners. For now only the node side exists:
//! * [`upstream`]: the node's JSON-RPC client (templates, block submission, chain state).

pub mod upstream;
