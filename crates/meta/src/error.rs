//! Errors of the metadata layer, each with a message an operator can act on.

/// Why a command was refused or could not be stored. Serialisable: a refusal made by the
/// controller travels back to the broker that forwarded the command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum MetaError {
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    #[error("topic '{0}' does not exist")]
    UnknownTopic(String),
    #[error("invalid partition count: {0}")]
    InvalidPartitions(String),
    #[error("replication factor {requested} is larger than the {available} registered broker(s)")]
    InvalidReplicationFactor { requested: i32, available: usize },
    #[error("broker {0} is not registered")]
    UnknownBroker(i32),
    /// A partition change from a stale leader or epoch, or naming an ineligible replica.
    #[error("partition change refused: {0}")]
    InvalidUpdate(String),
    #[error("metadata storage failed: {0}")]
    Storage(String),
    /// No controller could be reached, or it did not commit in time (no quorum).
    #[error("the metadata quorum is not available: {0}")]
    Unavailable(String),
}

impl From<rocksdb::Error> for MetaError {
    fn from(e: rocksdb::Error) -> Self {
        MetaError::Storage(e.into_string())
    }
}

impl From<serde_json::Error> for MetaError {
    fn from(e: serde_json::Error) -> Self {
        MetaError::Storage(format!("corrupt metadata record: {e}"))
    }
}
