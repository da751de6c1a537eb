//! The partition log: record batches on disk, as Kafka lays them out.
//!
//! # Layout
//! - [`layout`]: every file and directory name under `log.dirs`, and the one crash-safe writer
//!   of small state files (temp file, fsync, rename, fsync the directory).
//! - [`manager`]: [`LogManager`], the partition directories — scan, create and open, delete,
//!   the clean-shutdown marker, high-watermark checkpoints.
//! - [`batch`]: RecordBatch v2 framing — header parsing, CRC-32C, stamping offsets, record walk.
//! - [`records`]: the records inside an uncompressed batch — building one, reading them back.
//! - [`index`]: the sparse offset index and time index of one segment, and their file format.
//! - [`segment`]: one `.log` file with its indexes — append, positional reads, recovery.
//! - [`producer`]: idempotent-producer state (epoch, last five batches' sequences) per producer id.
//! - [`config`]: [`LogConfig`], the per-topic settings the log obeys.
//! - [`epochs`]: the leader epoch cache (KIP-101) — where each leader epoch starts.
//! - [`partition`]: [`PartitionLog`], the ordered segments of one partition — append, read,
//!   roll, retention, compaction, timestamp lookups, flush bookkeeping.
//! - [`txn`]: transactions as a partition sees them — control records, open and aborted
//!   transactions, the last stable offset, the `.txnindex` format.
//! - [`cleaner`]: log compaction (`cleanup.policy=compact`) — which records stay, and the
//!   crash-safe rewrite of a segment.
//! - [`error`]: the one error type, [`LogError`].
//! - [`testing`]: valid batches for tests and benchmarks, without a Kafka client.
//! - [`observe`]: the fsync count and latency the log reports to the metrics recorder.
//!
//! Nothing here knows the Kafka wire protocol or its error codes; the broker maps [`LogError`].

pub mod batch;
pub mod cleaner;
pub mod config;
pub mod epochs;
pub mod error;
pub mod index;
pub mod layout;
pub mod manager;
pub mod observe;
pub mod partition;
pub mod producer;
pub mod records;
pub mod segment;
pub mod testing;
pub mod txn;

pub use cleaner::CompactionOutcome;
pub use config::{LogConfig, TimestampType};
pub use error::LogError;
pub use manager::{LogManager, PartitionDir, StoredPartition};
pub use partition::{AppendOutcome, FlushTarget, Flushed, OpenOptions, PartitionLog, ReadOutcome, RetentionOutcome};

/// Result of log operations.
pub type Result<T, E = LogError> = std::result::Result<T, E>;
