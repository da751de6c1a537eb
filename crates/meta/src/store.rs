//! [`NodeDb`]: the one RocksDB of a node, holding small state only — never record data.
//!
//! Column families:
//! - `raft_log`: the Raft log, entry index (8-byte big-endian) → JSON entry ([`crate::log_store`]).
//! - `raft_state`: the vote, the committed log id and the last purged log id.
//! - `raft_snapshot`: the latest state-machine snapshot, its meta and its bytes ([`crate::state_machine`]).
//! - `meta_log`, `meta_snapshot`: the command log and image of the one-node metadata that came
//!   before Raft, read once to carry an existing data directory over.
//! - `partition_state`: node-local per-partition state (key `<topic uuid>/<partition>/log_start`).
//! - `node`: node identity (cluster id).
//!
//! Writes that must survive a crash (commands, log start offsets) use synced write batches.
//! `NodeDb` is `Send + Sync`; RocksDB serialises writers itself.

use std::path::Path;

use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch, WriteOptions};
use uuid::Uuid;

use crate::types::Command;
use crate::{MetaError, MetadataImage};

const CF_LOG: &str = "meta_log";
const CF_SNAPSHOT: &str = "meta_snapshot";
const CF_PARTITION: &str = "partition_state";
const CF_NODE: &str = "node";
pub(crate) const CF_RAFT_LOG: &str = "raft_log";
pub(crate) const CF_RAFT_STATE: &str = "raft_state";
pub(crate) const CF_RAFT_SNAPSHOT: &str = "raft_snapshot";
const SNAPSHOT_KEY: &[u8] = b"image";

/// The node's RocksDB and its column families.
pub struct NodeDb {
    db: DB,
}

impl std::fmt::Debug for NodeDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeDb").field("path", &self.db.path()).finish()
    }
}

impl NodeDb {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, MetaError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_keep_log_file_num(2);
        opts.set_max_log_file_size(1 << 20);
        let cfs = [CF_LOG, CF_SNAPSHOT, CF_PARTITION, CF_NODE, CF_RAFT_LOG, CF_RAFT_STATE, CF_RAFT_SNAPSHOT]
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = DB::open_cf_descriptors(&opts, dir, cfs)
            .map_err(|e| MetaError::Storage(format!("cannot open {}: {}", dir.display(), e.into_string())))?;
        Ok(Self { db })
    }

    pub(crate) fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        // The families are created at open; a missing one is a bug.
        self.db.cf_handle(name).expect("column family created at open")
    }

    /// The database itself, for the Raft storage in this crate.
    pub(crate) fn raw(&self) -> &DB {
        &self.db
    }

    pub(crate) fn synced() -> WriteOptions {
        let mut w = WriteOptions::default();
        w.set_sync(true);
        w
    }

    /// Durably appends command `index`.
    pub fn append_command(&self, index: u64, command: &Command) -> Result<(), MetaError> {
        let value = serde_json::to_vec(command)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_LOG), index.to_be_bytes(), value);
        self.db.write_opt(batch, &Self::synced())?;
        Ok(())
    }

    /// Every stored command with an index above `index`, in order.
    pub fn commands_after(&self, index: u64) -> Result<Vec<(u64, Command)>, MetaError> {
        let start = (index + 1).to_be_bytes();
        let mode = IteratorMode::From(&start, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_LOG), mode) {
            let (key, value) = item?;
            let key: [u8; 8] = key.as_ref().try_into().map_err(|_| MetaError::Storage("bad meta_log key".into()))?;
            out.push((u64::from_be_bytes(key), serde_json::from_slice(&value)?));
        }
        Ok(out)
    }

    /// Stores `image` as the snapshot and drops the commands it covers, atomically.
    pub fn save_snapshot(&self, image: &MetadataImage) -> Result<(), MetaError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_SNAPSHOT), SNAPSHOT_KEY, serde_json::to_vec(image)?);
        batch.delete_range_cf(self.cf(CF_LOG), 0u64.to_be_bytes(), (image.applied_index + 1).to_be_bytes());
        self.db.write_opt(batch, &Self::synced())?;
        Ok(())
    }

    /// The latest snapshot, if any.
    pub fn load_snapshot(&self) -> Result<Option<MetadataImage>, MetaError> {
        match self.db.get_cf(self.cf(CF_SNAPSHOT), SNAPSHOT_KEY)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The metadata a pre-Raft Fjord left here (its snapshot with the commands after it
    /// replayed), if any.
    pub(crate) fn legacy_image(&self) -> Result<Option<MetadataImage>, MetaError> {
        let snapshot = self.load_snapshot()?;
        let commands = self.commands_after(snapshot.as_ref().map_or(0, |s| s.applied_index))?;
        if snapshot.is_none() && commands.is_empty() {
            return Ok(None);
        }
        let mut image = snapshot.unwrap_or_default();
        for (index, command) in commands {
            image = image.apply(index, &command)?.0;
        }
        Ok(Some(image))
    }

    /// Drops the pre-Raft metadata once it has been carried over.
    pub(crate) fn drop_legacy(&self) -> Result<(), MetaError> {
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_SNAPSHOT), SNAPSHOT_KEY);
        batch.delete_range_cf(self.cf(CF_LOG), 0u64.to_be_bytes(), u64::MAX.to_be_bytes());
        self.db.write_opt(batch, &Self::synced())?;
        Ok(())
    }

    /// A node identity value.
    pub fn node_value(&self, key: &str) -> Result<Option<String>, MetaError> {
        let v = self.db.get_cf(self.cf(CF_NODE), key)?;
        Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Durably sets a node identity value.
    pub fn set_node_value(&self, key: &str, value: &str) -> Result<(), MetaError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_NODE), key, value);
        self.db.write_opt(batch, &Self::synced())?;
        Ok(())
    }

    fn partition_key(topic_id: Uuid, partition: i32) -> String {
        format!("{topic_id}/{partition}/log_start")
    }

    /// The persisted log start offset of a partition.
    pub fn log_start_offset(&self, topic_id: Uuid, partition: i32) -> Result<Option<i64>, MetaError> {
        let v = self.db.get_cf(self.cf(CF_PARTITION), Self::partition_key(topic_id, partition))?;
        Ok(v.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok()).map(i64::from_be_bytes))
    }

    /// Durably records a partition's log start offset (after DeleteRecords or retention).
    pub fn set_log_start_offset(&self, topic_id: Uuid, partition: i32, offset: i64) -> Result<(), MetaError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_PARTITION), Self::partition_key(topic_id, partition), offset.to_be_bytes());
        self.db.write_opt(batch, &Self::synced())?;
        Ok(())
    }

    /// Forgets a deleted partition's node-local state.
    pub fn delete_partition_state(&self, topic_id: Uuid, partition: i32) -> Result<(), MetaError> {
        self.db.delete_cf(self.cf(CF_PARTITION), Self::partition_key(topic_id, partition))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_snapshots_and_partition_state_persist() {
        let dir = tempfile::tempdir().unwrap();
        let id = Uuid::from_u128(7);
        {
            let db = NodeDb::open(dir.path()).unwrap();
            for i in 1..=5 {
                db.append_command(i, &Command::AllocateProducerIds { count: i as i64 }).unwrap();
            }
            let mut image = MetadataImage::new("cid".into(), 1);
            image.applied_index = 3;
            db.save_snapshot(&image).unwrap();
            db.set_log_start_offset(id, 2, 42).unwrap();
            db.set_node_value("cluster.id", "cid").unwrap();
        }
        let db = NodeDb::open(dir.path()).unwrap();
        assert_eq!(db.load_snapshot().unwrap().unwrap().applied_index, 3);
        let rest: Vec<u64> = db.commands_after(0).unwrap().into_iter().map(|(i, _)| i).collect();
        assert_eq!(rest, vec![4, 5], "the snapshot covers 1..=3");
        assert_eq!(db.log_start_offset(id, 2).unwrap(), Some(42));
        assert_eq!(db.log_start_offset(id, 3).unwrap(), None);
        db.delete_partition_state(id, 2).unwrap();
        assert_eq!(db.log_start_offset(id, 2).unwrap(), None);
        assert_eq!(db.node_value("cluster.id").unwrap().as_deref(), Some("cid"));
    }
}
