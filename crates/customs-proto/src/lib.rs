//! Protobuf messages of the pipeline (`customs.v1`) and their conversions.
//!
//! Generated code lives here and nowhere else. Proto types stop at the service
//! boundary: services convert them to and from the domain model with the
//! `From`/`TryFrom` impls in [`convert`], and the domain crate never sees them.

pub mod convert;

/// Generated `customs.v1` messages, gRPC client and server.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("customs.v1");
}

/// Encoded `FileDescriptorSet` of every `customs.v1` file, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/customs_v1_descriptor.bin"));

pub use convert::ConversionError;
