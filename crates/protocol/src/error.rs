//! Errors between raw bytes and typed messages.

use kafka_protocol::messages::ApiKey;

/// What can go wrong while reading frames or decoding and encoding messages.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The length prefix announces a frame over `socket.request.max.bytes`.
    #[error("frame of {size} bytes exceeds the limit of {max} bytes (socket.request.max.bytes)")]
    FrameTooLarge { size: usize, max: usize },
    /// A response's length prefix announces more than the client accepts.
    #[error("response of {size} bytes exceeds the limit of {max} bytes")]
    ResponseTooLarge { size: usize, max: usize },
    /// A response answers another request than the one in flight.
    #[error("response to request {got} while waiting for request {expected}")]
    CorrelationMismatch { expected: i32, got: i32 },
    /// The length prefix is negative.
    #[error("invalid frame length {0}")]
    InvalidFrameLength(i32),
    /// The request names an API key that Kafka does not define or Fjord does not serve.
    #[error("unknown or unsupported API key {0}")]
    UnknownApiKey(i16),
    /// The API is served, but not at this version.
    #[error("unsupported version {version} of {api:?} (served: {min}..={max})")]
    UnsupportedVersion { api: ApiKey, version: i16, min: i16, max: i16 },
    /// The bytes do not decode as the message they claim to be.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// A response could not be encoded (a bug: responses are built by the broker).
    #[error("cannot encode {what}: {reason}")]
    Encode { what: &'static str, reason: String },
}
