//! Compiles `proto/` into Rust with prost, plus serde impls for the protobuf
//! JSON mapping with pbjson. The .proto files are parsed by protox (a protobuf
//! compiler written in Rust), so no system `protoc` is needed.
//!
//! The JSON is Mesos' flavour of the mapping (stout's `protobuf.hpp`): field
//! names as in the .proto (snake_case), enums by name, bytes as base64,
//! unknown fields ignored, and 64-bit integers as JSON numbers: Mesos writes
//! them as numbers and refuses strings for them, while pbjson writes the
//! proto3 mapping's strings, so its output is rewritten below.

use std::path::{Path, PathBuf};

const PROTO_ROOT: &str = "proto";
const PROTOS: [&str; 4] = [
    "proto/mesos/v1/mesos.proto",
    "proto/mesos/v1/scheduler/scheduler.proto",
    "proto/mesos/v1/executor/executor.proto",
    "proto/mesos/v1/maintenance/maintenance.proto",
];
/// The files pbjson-build writes, one per package.
const SERDE_FILES: [&str; 4] = [
    "mesos.v1.serde.rs",
    "mesos.v1.scheduler.serde.rs",
    "mesos.v1.executor.serde.rs",
    "mesos.v1.maintenance.serde.rs",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
        assert!(Path::new(proto).exists(), "missing {proto}");
    }

    let descriptors = protox::compile(PROTOS, [PROTO_ROOT])?;
    let files = descriptors.file.clone();
    prost_build::Config::new()
        // Ordered maps keep encodings deterministic (TaskInfo.limits).
        .btree_map(["."])
        .bytes(["."])
        .compile_fds(descriptors)?;

    let mut json = pbjson_build::Builder::new();
    for file in files {
        json.register_file_descriptor(file);
    }
    json.preserve_proto_field_names()
        // Mesos ignores fields it does not know, and so must we: a real
        // master sends many more than our subset models.
        .ignore_unknown_fields()
        // An enum value we do not know reads as the enum's default, as the
        // protobuf getters do (instead of failing the whole event).
        .ignore_unknown_enum_variants()
        .btree_map(["."])
        .build(&[".mesos"])?;

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    for file in SERDE_FILES {
        let path = out_dir.join(file);
        let code = std::fs::read_to_string(&path)?;
        std::fs::write(&path, int64_as_numbers(&code))?;
    }
    Ok(())
}

/// Rewrites pbjson's `ToString::to_string(&x).as_str()` (64-bit integers as
/// JSON strings) into `&x` (JSON numbers). Reading accepts both forms.
fn int64_as_numbers(code: &str) -> String {
    const START: &str = "ToString::to_string(&";
    const END: &str = ").as_str()";
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(start) = rest.find(START) {
        let after = &rest[start + START.len()..];
        let end = after
            .find(END)
            .expect("ToString::to_string(& without .as_str()");
        let variable = &after[..end];
        assert!(
            variable
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.'),
            "unexpected 64-bit field access {variable:?}"
        );
        out.push_str(&rest[..start]);
        out.push('&');
        out.push_str(variable);
        rest = &after[end + END.len()..];
    }
    out.push_str(rest);
    // Repeated 64-bit fields and maps of them take other forms; none exist
    // in our subset yet. Fail loudly rather than emit strings.
    assert!(
        !out.contains("to_string"),
        "pbjson emitted a 64-bit form this build script does not rewrite"
    );
    out
}
