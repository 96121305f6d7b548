//! Compiles `proto/archive/v1/*.proto` with protox (pure Rust, no protoc
//! needed) and generates the tonic services and prost messages from them,
//! and their serde impls in the proto3 JSON mapping (pbjson), which
//! `archivectl --output json` prints. Well-known types come from
//! pbjson-types so that they serialize too.
use protox::prost::Message;
use std::{env, fs, path::PathBuf};

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: &[&str] = &[
    "proto/archive/v1/article.proto",
    "proto/archive/v1/errors.proto",
    "proto/archive/v1/media.proto",
    "proto/archive/v1/metadata.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    let descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    let descriptor_path =
        PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR not set")?).join("archive_descriptor.bin");
    fs::write(&descriptor_path, descriptors.encode_to_vec())?;

    tonic_prost_build::configure()
        .skip_protoc_run()
        .file_descriptor_set_path(&descriptor_path)
        .bytes(".archive.v1")
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_protos(PROTO_FILES, &[PROTO_ROOT])?;
    // Fields at their default value are written too: a script reads `false`,
    // `0` or `""` rather than a missing key.
    pbjson_build::Builder::new()
        .register_descriptors(&fs::read(&descriptor_path)?)?
        .emit_fields()
        .build(&[".archive.v1"])?;
    Ok(())
}
