//! Kafka wire protocol for Fjord: frames, request decoding, response encoding and the table of
//! supported API versions. No I/O happens here; the broker's connection feeds bytes in and writes
//! the bytes that come out.
//!
//! # Layout
//! - [`frame`]: the 4-byte length prefix, with the size bound that protects the broker's memory.
//! - [`versions`]: the supported-version table that validates requests and builds ApiVersions.
//! - [`bounds`]: the structural check of a request body before decoding — no length may announce
//!   more than the bytes that follow hold — by wire layouts generated from Kafka's specifications.
//! - [`request`]: request header and body decoding into `kafka_protocol` message types.
//! - [`response`]: response header and body encoding, including the KIP-511 ApiVersions fallback.
//! - [`client`]: the client side — request frames out, bounded response frames in — for every
//!   Kafka client inside Fjord (replica fetchers, the operator CLI, the tests).
//! - [`legacy`]: Produce v0–v2 (old message formats), answered with UNSUPPORTED_FOR_MESSAGE_FORMAT.
//! - [`error`]: [`ProtocolError`], what can go wrong between bytes and messages.

pub mod bounds;
pub mod client;
pub mod error;
pub mod frame;
pub mod legacy;
pub mod request;
pub mod response;
pub mod versions;

pub use client::ClientCodec;
pub use error::ProtocolError;
pub use kafka_protocol;
pub use request::{Request, decode_request};
pub use response::encode_response;
pub use versions::{ApiRange, VersionTable};
