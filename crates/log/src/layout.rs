//! Every name the broker gives a file or directory under `log.dirs`, and the one crash-safe way
//! small files are replaced. Nothing else in the workspace spells a file name.
//!
//! ```text
//! <log.dirs>/
//!   .fjord_clean_shutdown              CLEAN_SHUTDOWN_MARKER: present after a clean stop
//!   meta/                              META_DIR: the node's RocksDB (Raft log, vote, snapshots,
//!                                      log start offsets)
//!   <topic>-<partition>/               partition_dir_name
//!     partition.metadata               PARTITION_METADATA: "version: 0", "topic_id: <uuid>"
//!     <20-digit base>.log              segment_file_name(base, LOG_SUFFIX): record batches
//!     <20-digit base>.index            ... INDEX_SUFFIX: sparse offset index
//!     <20-digit base>.timeindex        ... TIME_INDEX_SUFFIX: time index
//!     <20-digit base>.txnindex         ... TXN_INDEX_SUFFIX: aborted transactions (see txn)
//!     <20-digit base>.log.cleaned      ... CLEANED_SUFFIX: a compaction's rewrite before its rename
//!     producer.snapshot                PRODUCER_SNAPSHOT: idempotent-producer state (clean close)
//!     leader-epoch-checkpoint          LEADER_EPOCH_CHECKPOINT: where each leader epoch starts
//!     high-watermark                   HIGH_WATERMARK: the last high watermark checkpointed
//!   <topic>-<partition>-<id>.deleted/  deleted_dir_name: a partition on its way out
//! ```
//!
//! Small state files (`partition.metadata`, `producer.snapshot`, `leader-epoch-checkpoint`,
//! `high-watermark`, the segment indexes) are only ever replaced by [`write_atomically`]: the
//! bytes go to `<name>.tmp`, which is fsynced and renamed over the file, and then the directory
//! is fsynced, so a crash at any point leaves either the old content or the new, never a torn
//! file — and the new one, once the call returned, survives a power cut.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Present in `log.dirs` after a clean stop; removed at start, so a crash is noticed.
pub const CLEAN_SHUTDOWN_MARKER: &str = ".fjord_clean_shutdown";
/// The node's RocksDB, inside `log.dirs`.
pub const META_DIR: &str = "meta";
/// Names the topic id a partition directory belongs to.
pub const PARTITION_METADATA: &str = "partition.metadata";
/// The high watermark last checkpointed.
pub const HIGH_WATERMARK: &str = "high-watermark";
/// The leader epoch cache (KIP-101), in Kafka's text format.
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
/// Idempotent-producer state, written at a clean close.
pub const PRODUCER_SNAPSHOT: &str = "producer.snapshot";
/// Segment parts: `<base>.log`, `<base>.index`, `<base>.timeindex`.
pub const LOG_SUFFIX: &str = "log";
pub const INDEX_SUFFIX: &str = "index";
pub const TIME_INDEX_SUFFIX: &str = "timeindex";
/// Aborted transactions whose marker is in the segment: `<base>.txnindex`.
pub const TXN_INDEX_SUFFIX: &str = "txnindex";
/// A compaction's rewritten segment, `<base>.log.cleaned`, before it replaces `<base>.log`.
pub const CLEANED_SUFFIX: &str = "cleaned";
/// A partition directory renamed away before it is removed.
pub const DELETED_SUFFIX: &str = "deleted";
/// What [`write_atomically`] writes before its rename.
pub const TMP_SUFFIX: &str = "tmp";

/// `<topic>-<partition>`, Kafka's name of a partition directory.
pub fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// The topic and partition of a directory name made by [`partition_dir_name`]. Topic names may
/// hold `-` themselves; the partition is what follows the last one.
pub fn parse_partition_dir(name: &str) -> Option<(&str, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    let partition: i32 = partition.parse().ok().filter(|p: &i32| *p >= 0)?;
    (!topic.is_empty() && partition.to_string().len() == name.len() - topic.len() - 1).then_some((topic, partition))
}

/// `<topic>-<partition>-<topic id>.deleted`: unique per topic incarnation, so deleting a
/// re-created topic never collides with the remains of the old one.
pub fn deleted_dir_name(topic: &str, partition: i32, topic_id: &uuid::Uuid) -> String {
    format!("{topic}-{partition}-{}.{DELETED_SUFFIX}", topic_id.simple())
}

/// The file name of a segment part: the base offset as 20 digits, then the suffix.
pub fn segment_file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}.{suffix}")
}

/// The base offset of a `.log` file name, if it is one.
pub fn parse_segment_log_name(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(LOG_SUFFIX)?.strip_suffix('.')?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

/// Whether `name` is what an interrupted compaction left (`<base>.log.cleaned`).
pub fn is_cleaned_leftover(name: &str) -> bool {
    name.strip_suffix(CLEANED_SUFFIX)
        .and_then(|n| n.strip_suffix('.'))
        .is_some_and(|n| parse_segment_log_name(n).is_some())
}

/// Replaces `path` with `bytes` crash-safely: `<name>.tmp` written and fsynced, renamed over
/// `path`, then the directory fsynced. A crash leaves the old content or the new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other(format!("{} has no directory", path.display())))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".");
    tmp_name.push(TMP_SUFFIX);
    let tmp = dir.join(tmp_name);
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Makes a directory's entries (creations, renames, removals) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// [`write_atomically`], failing as the log reports storage errors.
pub(crate) fn write_atomically_checked(path: &Path, bytes: &[u8]) -> crate::Result<()> {
    write_atomically(path, bytes).map_err(crate::LogError::io(format!("write {}", path.display())))
}

/// [`sync_dir`], failing as the log reports storage errors.
pub(crate) fn sync_dir_checked(dir: &Path) -> crate::Result<()> {
    sync_dir(dir).map_err(crate::LogError::io(format!("fsync directory {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_directories_round_trip_with_dashes_in_topic_names() {
        for (topic, p) in [("orders", 0), ("a-b-c", 12), ("__consumer_offsets", 49), ("x-1", 3), ("orders-", 1)] {
            assert_eq!(parse_partition_dir(&partition_dir_name(topic, p)), Some((topic, p)));
        }
        for bad in ["orders", "-1", "orders-", "orders-x", "orders-01", "meta"] {
            assert_eq!(parse_partition_dir(bad), None, "{bad}");
        }
    }

    #[test]
    fn segment_names_are_twenty_digits() {
        assert_eq!(segment_file_name(42, LOG_SUFFIX), "00000000000000000042.log");
        assert_eq!(parse_segment_log_name("00000000000000000042.log"), Some(42));
        assert_eq!(parse_segment_log_name("42.log"), None);
        assert_eq!(parse_segment_log_name("00000000000000000042.index"), None);
        assert!(is_cleaned_leftover("00000000000000000042.log.cleaned"));
        assert!(!is_cleaned_leftover("00000000000000000042.log"));
    }

    #[test]
    fn atomic_writes_replace_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HIGH_WATERMARK);
        write_atomically(&path, b"1\n").unwrap();
        write_atomically(&path, b"22\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"22\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [HIGH_WATERMARK]);
    }
}
