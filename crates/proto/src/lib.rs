//! Generated code for every rentops schema in `proto/`, one module per protobuf package.
//! Nothing here is written by hand except the module tree, the descriptor set constant and
//! the mappings written once for every service: [`timestamp`] (`google.protobuf.Timestamp` and
//! `OffsetDateTime`) and [`model`] (the wire's vehicle model enum and the kernel's).

pub mod model;
pub mod timestamp;

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod rentops {
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("rentops.common.v1");
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
}

pub use prost_types::Timestamp;
pub use rentops::common::v1 as common;
pub use rentops::fleet::v1 as fleet;
pub use rentops::order::v1 as order;

/// The encoded `FileDescriptorSet` of every rentops proto (with imports), for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rentops_descriptor.bin"));
