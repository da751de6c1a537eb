//! [`LogError`]: everything the log can refuse or fail at, in terms a user can act on.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("storage error while trying to {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("corrupt record batch: {0}")]
    CorruptMessage(String),
    #[error("record batch magic {magic} is not supported; only RecordBatch v2 (magic 2) is")]
    UnsupportedMessageFormat { magic: i8 },
    #[error("record batch of {size} bytes exceeds max.message.bytes ({max})")]
    MessageTooLarge { size: usize, max: usize },
    #[error("offset {offset} is outside the log [{start}, {end}]")]
    OffsetOutOfRange { offset: i64, start: i64, end: i64 },
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {got}")]
    OutOfOrderSequence { producer_id: i64, expected: i32, got: i32 },
    #[error("producer {producer_id} has epoch {current}; epoch {got} is fenced")]
    InvalidProducerEpoch { producer_id: i64, current: i16, got: i16 },
    #[error(
        "producer {producer_id}'s transactions are coordinated in epoch {current}; a marker of coordinator epoch {got} is fenced"
    )]
    CoordinatorFenced { producer_id: i64, current: i32, got: i32 },
    #[error("the log refuses writes after a failed fsync; restart the broker to recover it")]
    Poisoned,
    #[error("offset {0} is not a valid offset for this operation")]
    InvalidOffset(i64),
    #[error("invalid record set: {0}")]
    InvalidRecord(String),
    #[error("{0}")]
    InvalidTxnState(String),
    #[error("the partition is being deleted")]
    Retired,
}

impl LogError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> LogError {
        let context = context.into();
        move |source| LogError::Io { context, source }
    }
}
