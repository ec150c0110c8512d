//! Compiles `proto/customs/v1/*.proto` with protox (pure Rust), so a build
//! needs no system `protoc`, and writes the descriptor set that server
//! reflection serves.

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &["customs/v1/declaration.proto", "customs/v1/stats.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time: a build-script binary may be shared between
    // checkouts of the workspace, and must compile this checkout's protos.
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    for proto in PROTOS {
        println!(
            "cargo:rerun-if-changed={}",
            proto_root.join(proto).display()
        );
    }
    let descriptors = protox::compile(PROTOS, [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("customs_v1_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
