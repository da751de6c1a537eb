//! [`LogConfig`]: the topic-level settings a partition log obeys. The broker derives it from
//! topic overrides layered over broker defaults; the log only reads it.

/// Which timestamp a batch keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// The producer's timestamps are kept as sent.
    #[default]
    CreateTime,
    /// The broker stamps its clock on every batch at append.
    LogAppendTime,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// Roll the active segment before it would grow past this many bytes (`segment.bytes`).
    pub segment_bytes: u64,
    /// Roll the active segment once its first batch is this old (`segment.ms`).
    pub segment_ms: i64,
    /// Delete segments whose newest timestamp is older than this; -1 keeps forever (`retention.ms`).
    pub retention_ms: i64,
    /// Delete old segments while the log is larger than this; -1 means no bound (`retention.bytes`).
    pub retention_bytes: i64,
    /// The largest batch accepted (`max.message.bytes`).
    pub max_message_bytes: usize,
    pub timestamp_type: TimestampType,
    /// False when `cleanup.policy` lacks `delete`: time and size retention then never delete.
    pub delete_retention: bool,
    /// True when `cleanup.policy` has `compact`: the cleaner keeps only the latest record of each
    /// key, and appends of records without a key are refused.
    pub compact: bool,
    /// How long a tombstone (a keyed record with a null value) outlives its batch's max
    /// timestamp on a compacted topic before the cleaner may remove it (`delete.retention.ms`).
    pub delete_retention_ms: i64,
    /// Bytes of log between two offset-index entries (`index.interval.bytes`).
    pub index_interval_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
            delete_retention: true,
            compact: false,
            delete_retention_ms: 24 * 3600 * 1000,
            index_interval_bytes: 4096,
        }
    }
}
