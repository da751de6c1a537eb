//! Broker errors and the one place where every internal error becomes a Kafka error code.
//!
//! [`BrokerError`] is what a request (or one partition of it) fails with; [`BrokerError::code`]
//! is an exhaustive `match` over this crate's errors and the errors of the crates below it, with
//! no catch-all arm: a new error variant anywhere fails to compile until someone decides what
//! clients see for it. Storage failures keep their `io::Error` (inside [`LogError::Io`]).
//!
//! [`StartupError`] is why a broker could not start or stop cleanly — a port in use, a data
//! directory it cannot open. It never reaches the wire, so it has no Kafka code.

use fjord_group::GroupError;
use fjord_log::LogError;
use fjord_meta::MetaError;
use fjord_txn::TxnError;
use kafka_protocol::ResponseError;

/// Why a request (or one partition of it) failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error(transparent)]
    Coordinator(#[from] CoordinatorError),
    #[error(transparent)]
    Txn(#[from] TxnError),
    #[error("this server does not host this topic-partition")]
    UnknownTopicOrPartition,
    #[error("this broker is not the leader of this partition")]
    NotLeaderOrFollower,
    #[error("this server does not host this topic id")]
    UnknownTopicId,
    #[error("{0}")]
    InvalidTopic(String),
    #[error("acks must be -1, 0 or 1, not {0}")]
    InvalidRequiredAcks(i16),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("the partition has {isr} in-sync replica(s), fewer than min.insync.replicas={min}")]
    NotEnoughReplicas { isr: usize, min: usize },
    #[error("written to the leader, but the in-sync replicas fell to {isr}, below min.insync.replicas={min}")]
    NotEnoughReplicasAfterAppend { isr: usize, min: usize },
    #[error("the in-sync replicas did not confirm the write within {0} ms")]
    ReplicationTimedOut(i64),
    #[error("leader epoch {requested} is newer than the current {current}")]
    UnknownLeaderEpoch { requested: i32, current: i32 },
    #[error("leader epoch {requested} is older than the current {current}")]
    FencedLeaderEpoch { requested: i32, current: i32 },
    #[error("fetch session {0} does not exist")]
    FetchSessionIdNotFound(i32),
    #[error("{0}")]
    PolicyViolation(String),
    /// A bug or a crashed task inside the broker, not the client's doing.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a coordinator cannot serve a key here and now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoordinatorError {
    #[error("this broker is not the coordinator of {0}")]
    NotCoordinator(String),
    #[error("the coordinator of {0} is loading its state")]
    LoadInProgress(String),
    #[error("the coordinator is not available: {0}")]
    NotAvailable(String),
}

/// Why the broker could not start, or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen for {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot open the data directory: {0}")]
    Storage(#[from] LogError),
    #[error("metadata: {0}")]
    Meta(#[from] MetaError),
    #[error("{0}")]
    Broker(#[from] BrokerError),
    #[error("the logs did not close cleanly (the next start recovers them): {0}")]
    UncleanShutdown(LogError),
    #[error("a startup or shutdown task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl BrokerError {
    /// The Kafka error this error is reported as.
    pub fn code(&self) -> ResponseError {
        match self {
            BrokerError::Log(e) => match e {
                LogError::Io { .. } => ResponseError::KafkaStorageError,
                LogError::Poisoned => ResponseError::KafkaStorageError,
                LogError::CorruptMessage(_) => ResponseError::CorruptMessage,
                // Produce v3+ is the only way in (v0-v2 are answered before the log), and Kafka
                // refuses other magics there as an invalid record.
                LogError::UnsupportedMessageFormat { .. } => ResponseError::InvalidRecord,
                LogError::InvalidRecord(_) => ResponseError::InvalidRecord,
                LogError::InvalidTxnState(_) => ResponseError::InvalidTxnState,
                LogError::Retired => ResponseError::UnknownTopicOrPartition,
                LogError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
                LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
                LogError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
                LogError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
                LogError::CoordinatorFenced { .. } => ResponseError::TransactionCoordinatorFenced,
                LogError::InvalidOffset(_) => ResponseError::OffsetOutOfRange,
            },
            BrokerError::Meta(e) => match e {
                MetaError::TopicExists(_) => ResponseError::TopicAlreadyExists,
                MetaError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
                MetaError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
                MetaError::InvalidReplicationFactor { .. } => ResponseError::InvalidReplicationFactor,
                MetaError::UnknownBroker(_) => ResponseError::BrokerNotAvailable,
                MetaError::Storage(_) => ResponseError::UnknownServerError,
                MetaError::InvalidUpdate(_) => ResponseError::InvalidUpdateVersion,
                // What Kafka answers when the controller does not commit a change in time.
                MetaError::Unavailable(_) => ResponseError::RequestTimedOut,
            },
            BrokerError::Group(e) => match e {
                GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
                GroupError::UnknownMemberId(_) => ResponseError::UnknownMemberId,
                GroupError::IllegalGeneration { .. } => ResponseError::IllegalGeneration,
                GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
                GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
                GroupError::InvalidSessionTimeout { .. } => ResponseError::InvalidSessionTimeout,
                GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
                GroupError::FencedInstanceId(_) => ResponseError::FencedInstanceId,
                GroupError::GroupIdNotFound(_) => ResponseError::GroupIdNotFound,
                GroupError::NonEmptyGroup(_) => ResponseError::NonEmptyGroup,
                GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
                GroupError::GroupSubscribedToTopic(_) => ResponseError::GroupSubscribedToTopic,
                GroupError::NotCoordinator(_) => ResponseError::NotCoordinator,
                GroupError::LoadInProgress(_) => ResponseError::CoordinatorLoadInProgress,
            },
            BrokerError::Coordinator(e) => match e {
                CoordinatorError::NotCoordinator(_) => ResponseError::NotCoordinator,
                CoordinatorError::LoadInProgress(_) => ResponseError::CoordinatorLoadInProgress,
                CoordinatorError::NotAvailable(_) => ResponseError::CoordinatorNotAvailable,
            },
            BrokerError::Txn(e) => match e {
                TxnError::InvalidRequest(_) => ResponseError::InvalidRequest,
                TxnError::InvalidTransactionTimeout { .. } => ResponseError::InvalidTransactionTimeout,
                TxnError::ConcurrentTransactions(_) => ResponseError::ConcurrentTransactions,
                TxnError::ProducerFenced { .. } => ResponseError::ProducerFenced,
                TxnError::InvalidProducerIdMapping(_) => ResponseError::InvalidProducerIdMapping,
                TxnError::InvalidTxnState { .. } => ResponseError::InvalidTxnState,
                TxnError::TransactionalIdNotFound(_) => ResponseError::TransactionalIdNotFound,
                // Handled inside the coordinator; reaching a client would be a bug.
                TxnError::NeedProducerId => ResponseError::UnknownServerError,
            },
            BrokerError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
            BrokerError::NotLeaderOrFollower => ResponseError::NotLeaderOrFollower,
            BrokerError::UnknownTopicId => ResponseError::UnknownTopicId,
            BrokerError::InvalidTopic(_) => ResponseError::InvalidTopicException,
            BrokerError::InvalidRequiredAcks(_) => ResponseError::InvalidRequiredAcks,
            BrokerError::InvalidConfig(_) => ResponseError::InvalidConfig,
            BrokerError::InvalidRequest(_) => ResponseError::InvalidRequest,
            BrokerError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            BrokerError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
            BrokerError::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas,
            BrokerError::NotEnoughReplicasAfterAppend { .. } => ResponseError::NotEnoughReplicasAfterAppend,
            BrokerError::ReplicationTimedOut(_) => ResponseError::RequestTimedOut,
            BrokerError::UnknownLeaderEpoch { .. } => ResponseError::UnknownLeaderEpoch,
            BrokerError::FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch,
            BrokerError::FetchSessionIdNotFound(_) => ResponseError::FetchSessionIdNotFound,
            BrokerError::PolicyViolation(_) => ResponseError::PolicyViolation,
            BrokerError::Internal(_) => ResponseError::UnknownServerError,
        }
    }

    /// The numeric error code for a response field.
    pub fn error_code(&self) -> i16 {
        self.code().code()
    }

    /// The message for a response's error_message field.
    pub fn message(&self) -> kafka_protocol::protocol::StrBytes {
        kafka_protocol::protocol::StrBytes::from_string(self.to_string())
    }
}

/// Kafka's rules for topic names: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), BrokerError> {
    let fail = |why: &str| Err(BrokerError::InvalidTopic(format!("Topic name \"{name}\" is illegal, {why}")));
    if name.is_empty() {
        return fail("it can't be empty");
    }
    if name == "." || name == ".." {
        return fail("it can't be '.' or '..'");
    }
    if name.len() > 249 {
        return fail("it can't be longer than 249 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return fail("it contains a character other than ASCII alphanumerics, '.', '_' and '-'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in ["a", "orders.v1", "A_b-9", &"x".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "ü", "a/b", &"x".repeat(250)] {
            assert_eq!(validate_topic_name(bad).unwrap_err().code(), ResponseError::InvalidTopicException, "{bad}");
        }
    }
}
