//! Generated code for every rentops schema in `proto/`, one module per protobuf package.
//! Nothing here is written by hand except the module tree, the descriptor set constant, the
//! [`CommandRequest`] trait (whose impls the build script generates) and the mappings written
//! once for every service: [`timestamp`] (`google.protobuf.Timestamp` and `OffsetDateTime`) and
//! [`model`] (the wire's vehicle model enum and the kernel's).

pub mod client;
pub mod cover;
pub mod endpoints;
pub mod model;
pub mod timestamp;

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod rentops {
    pub mod admin {
        pub mod v1 {
            tonic::include_proto!("rentops.admin.v1");
        }
    }
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("rentops.common.v1");
        }
    }
    pub mod complaint {
        pub mod v1 {
            tonic::include_proto!("rentops.complaint.v1");
        }
    }
    pub mod order {
        pub mod v1 {
            tonic::include_proto!("rentops.order.v1");
        }
    }
    pub mod fleet {
        pub mod v1 {
            tonic::include_proto!("rentops.fleet.v1");
        }
    }
    pub mod receivables {
        pub mod v1 {
            tonic::include_proto!("rentops.receivables.v1");
        }
    }
}

pub use endpoints::Endpoints;
pub use prost_types::Timestamp;
pub use rentops::admin::v1 as admin;
pub use rentops::common::v1 as common;
pub use rentops::complaint::v1 as complaint;
pub use rentops::fleet::v1 as fleet;
pub use rentops::order::v1 as order;
pub use rentops::receivables::v1 as receivables;

/// A command's request: every RPC request that carries a `rentops.common.v1.CommandContext` in
/// its `context` field (implemented for each by the build script).
pub trait CommandRequest: prost::Message + Clone + Sized {
    fn context(&self) -> Option<&common::CommandContext>;

    /// The request with its context (request id, actor, correlation id) taken out: what it asks
    /// for.
    fn without_context(&self) -> Self;

    /// A short, stable hash of what the request asks for: the first 64 bits of SHA-256 over its
    /// protobuf encoding without the context, in hex (16 digits). The same request sent again has the same
    /// fingerprint (whatever correlation id it carries); a request id reused for anything else
    /// has another.
    fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(self.without_context().encode_to_vec());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

include!(concat!(env!("OUT_DIR"), "/command_requests.rs"));

/// The encoded `FileDescriptorSet` of every rentops proto (with imports), for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rentops_descriptor.bin"));
