//! [`LogManager`]: the partition directories under `log.dirs` — finding them at start, creating
//! and opening a partition's log, deleting it, and the clean-shutdown marker. The broker decides
//! *which* partitions live here (from the metadata); this module decides *how* they lie on disk
//! (names from [`crate::layout`]).
//!
//! A partition directory holds a `partition.metadata` naming its topic id, written crash-safely
//! before the log's first segment, so a directory of a deleted topic is never mistaken for one of
//! a topic re-created under the same name. Deleting renames the directory to
//! `<topic>-<partition>-<id>.deleted` (durably) before removing it; whatever such directories a
//! crash left are removed at the next open.
//!
//! Thread safety: the manager itself holds no mutable state; its methods do file-system work and
//! belong on blocking threads, never on async workers.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::layout::{self, CLEAN_SHUTDOWN_MARKER, DELETED_SUFFIX, HIGH_WATERMARK, PARTITION_METADATA};
use crate::{LogConfig, LogError, OpenOptions, PartitionLog, Result};

/// The data directory of one broker.
#[derive(Debug)]
pub struct LogManager {
    dir: PathBuf,
    clean_start: bool,
}

/// A partition directory found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPartition {
    pub path: PathBuf,
    /// The topic id its `partition.metadata` names; `None` when that file is unreadable.
    pub topic_id: Option<Uuid>,
}

/// One partition's directory, for the node-local state kept beside its segments that is not the
/// log's own: the high-watermark checkpoint.
#[derive(Debug, Clone)]
pub struct PartitionDir {
    path: PathBuf,
}

impl LogManager {
    /// Opens `dir` (creating it): notes whether the last stop was clean and removes the marker,
    /// so that a crash from here on is detected; removes what interrupted deletions left.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(LogError::io(format!("create data directory {}", dir.display())))?;
        let marker = dir.join(CLEAN_SHUTDOWN_MARKER);
        let clean_start = marker.exists();
        if clean_start {
            std::fs::remove_file(&marker).map_err(LogError::io(format!("remove {}", marker.display())))?;
            layout::sync_dir_checked(dir)?;
        }
        let manager = Self { dir: dir.to_path_buf(), clean_start };
        for path in manager.entries()? {
            let deleted = path.extension().is_some_and(|e| e == DELETED_SUFFIX);
            if deleted && path.is_dir() {
                tracing::warn!(dir = %path.display(), "removing a partition whose deletion was interrupted");
                remove_dir(&path)?;
            }
        }
        Ok(manager)
    }

    /// Whether the previous stop left the clean-shutdown marker.
    pub fn clean_start(&self) -> bool {
        self.clean_start
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every partition directory: each directory holding a `partition.metadata`.
    pub fn scan(&self) -> Result<Vec<StoredPartition>> {
        let mut found = Vec::new();
        for path in self.entries()? {
            let metadata = path.join(PARTITION_METADATA);
            if metadata.is_file() {
                found.push(StoredPartition { topic_id: read_topic_id(&metadata), path });
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    /// The directory partition `topic`/`partition` has (or will have).
    pub fn partition_dir(&self, topic: &str, partition: i32) -> PartitionDir {
        PartitionDir { path: self.dir.join(layout::partition_dir_name(topic, partition)) }
    }

    /// Opens the log of `topic`/`partition` (topic id `topic_id`), creating its directory and
    /// `partition.metadata` first when they are new. The log recovers itself unless the last stop
    /// was clean. `log_start_offset` is what the broker persisted for it.
    pub fn open_log(
        &self,
        (topic, partition, topic_id): (&str, i32, Uuid),
        config: LogConfig,
        log_start_offset: Option<i64>,
    ) -> Result<(PartitionLog, PartitionDir)> {
        let dir = self.partition_dir(topic, partition);
        std::fs::create_dir_all(&dir.path).map_err(LogError::io(format!("create {}", dir.path.display())))?;
        let metadata = dir.path.join(PARTITION_METADATA);
        if read_topic_id(&metadata) != Some(topic_id) {
            let text = format!("version: 0\ntopic_id: {topic_id}\n");
            layout::write_atomically_checked(&metadata, text.as_bytes())?;
        }
        let opts = OpenOptions { clean_shutdown: self.clean_start, log_start_offset };
        let log = PartitionLog::open(&dir.path, config, opts)?;
        Ok((log, dir))
    }

    /// Deletes a partition's directory, as Kafka does: renamed to `.deleted` (durably, so a
    /// crash never brings it back under its name), then removed.
    pub fn delete(&self, topic: &str, partition: i32, topic_id: &Uuid) -> Result<()> {
        let dir = self.partition_dir(topic, partition).path;
        let doomed = self.dir.join(layout::deleted_dir_name(topic, partition, topic_id));
        std::fs::rename(&dir, &doomed).map_err(LogError::io(format!(
            "rename {} to {}",
            dir.display(),
            doomed.display()
        )))?;
        layout::sync_dir_checked(&self.dir)?;
        remove_dir(&doomed)
    }

    /// Deletes a directory [`LogManager::scan`] found whose topic no longer exists.
    pub fn delete_stray(&self, stored: &StoredPartition) -> Result<()> {
        remove_dir(&stored.path)?;
        layout::sync_dir_checked(&self.dir)
    }

    /// Leaves the clean-shutdown marker: every log was closed cleanly.
    pub fn mark_clean_shutdown(&self) -> Result<()> {
        let marker = self.dir.join(CLEAN_SHUTDOWN_MARKER);
        std::fs::write(&marker, b"").map_err(LogError::io(format!("write {}", marker.display())))?;
        layout::sync_dir_checked(&self.dir)
    }

    fn entries(&self) -> Result<Vec<PathBuf>> {
        let list = LogError::io(format!("list {}", self.dir.display()));
        let entries = std::fs::read_dir(&self.dir).map_err(list)?;
        Ok(entries.flatten().map(|e| e.path()).collect())
    }
}

impl PartitionDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The high watermark last checkpointed here, if any.
    pub fn read_high_watermark(&self) -> Option<i64> {
        std::fs::read_to_string(self.path.join(HIGH_WATERMARK)).ok()?.trim().parse().ok()
    }

    /// Checkpoints the high watermark, crash-safely.
    pub fn write_high_watermark(&self, high_watermark: i64) -> Result<()> {
        layout::write_atomically_checked(&self.path.join(HIGH_WATERMARK), format!("{high_watermark}\n").as_bytes())
    }

    /// Bytes of the files in the directory (0 when it does not exist yet).
    pub fn size_bytes(&self) -> u64 {
        std::fs::read_dir(&self.path)
            .map(|entries| {
                entries.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
            })
            .unwrap_or(0)
    }
}

fn read_topic_id(path: &Path) -> Option<Uuid> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix("topic_id: ")).and_then(|v| v.trim().parse().ok())
}

fn remove_dir(path: &Path) -> Result<()> {
    std::fs::remove_dir_all(path).map_err(LogError::io(format!("delete {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::simple;

    #[test]
    fn partitions_are_created_found_and_deleted() {
        let data = tempfile::tempdir().unwrap();
        let logs = LogManager::open(data.path()).unwrap();
        assert!(!logs.clean_start());
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let (mut log, dir) = logs.open_log(("orders-eu", 3, a), LogConfig::default(), None).unwrap();
        log.append(&simple(0, 2), 0, 0).unwrap();
        log.close().unwrap();
        dir.write_high_watermark(2).unwrap();
        assert_eq!(dir.read_high_watermark(), Some(2));
        logs.open_log(("t", 0, b), LogConfig::default(), None).unwrap();
        let found = logs.scan().unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0], StoredPartition { path: data.path().join("orders-eu-3"), topic_id: Some(a) });
        assert_eq!(found[1].topic_id, Some(b));

        logs.delete("orders-eu", 3, &a).unwrap();
        assert!(!data.path().join("orders-eu-3").exists());
        assert_eq!(logs.scan().unwrap().len(), 1);
        logs.delete_stray(&logs.scan().unwrap()[0]).unwrap();
        assert!(logs.scan().unwrap().is_empty());
    }

    #[test]
    fn the_clean_marker_is_consumed_and_interrupted_deletions_are_finished() {
        let data = tempfile::tempdir().unwrap();
        let logs = LogManager::open(data.path()).unwrap();
        let id = Uuid::new_v4();
        logs.open_log(("t", 0, id), LogConfig::default(), None).unwrap();
        logs.mark_clean_shutdown().unwrap();
        // A crash between the rename and the removal of another partition.
        let doomed = data.path().join(layout::deleted_dir_name("t", 1, &id));
        std::fs::create_dir(&doomed).unwrap();
        std::fs::write(doomed.join(PARTITION_METADATA), format!("version: 0\ntopic_id: {id}\n")).unwrap();

        let logs = LogManager::open(data.path()).unwrap();
        assert!(logs.clean_start());
        assert!(!doomed.exists());
        assert!(!LogManager::open(data.path()).unwrap().clean_start(), "the marker counts once");
        assert_eq!(logs.scan().unwrap().len(), 1);
    }

    #[test]
    fn a_torn_metadata_file_is_reported_not_guessed() {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("t-0");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(PARTITION_METADATA), "version: 0\ntopic_id: 12").unwrap();
        let logs = LogManager::open(data.path()).unwrap();
        assert_eq!(logs.scan().unwrap(), [StoredPartition { path: dir, topic_id: None }]);
    }
}
