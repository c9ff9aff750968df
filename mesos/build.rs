//! Compiles `proto/` into Rust with prost. The .proto files are parsed by
//! protox (a protobuf compiler written in Rust), so no system `protoc` is needed.

use std::path::Path;

const PROTO_ROOT: &str = "proto";
const PROTOS: [&str; 3] = [
    "proto/mesos/v1/mesos.proto",
    "proto/mesos/v1/scheduler/scheduler.proto",
    "proto/mesos/v1/executor/executor.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
        assert!(Path::new(proto).exists(), "missing {proto}");
    }

    let descriptors = protox::compile(PROTOS, [PROTO_ROOT])?;
    prost_build::Config::new()
        // Ordered maps keep encodings deterministic (TaskInfo.limits).
        .btree_map(["."])
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
