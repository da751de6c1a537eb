//! [`LogStore`]: openraft's log storage on the node's RocksDB.
//!
//! On disk (column families of [`NodeDb`]):
//! - `raft_log`: entry index as 8-byte big-endian → the entry as JSON. Big-endian keys sort in
//!   index order, so ranges are RocksDB range scans and deletes.
//! - `raft_state`: `vote` and `committed` (JSON), and `last_purged`, the log id of the last entry
//!   removed from the front.
//!
//! Appends, truncations, purges and votes are synced writes: an entry acknowledged to the leader
//! or a vote granted survives a crash, as Raft requires. Cloning shares the database; openraft
//! reads through clones while it appends through the original, which RocksDB allows.

// openraft's storage traits fix the error type (StorageError, over 200 bytes); the helpers
// here return the same type rather than convert at every call.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogState, OptionalSend, RaftLogReader, Vote};
use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::NodeDb;
use crate::raft::{Entry, LogId, NodeId, StorageError, TypeConfig, io_error};
use crate::store::{CF_RAFT_LOG, CF_RAFT_STATE};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// The Raft log and vote of this node.
#[derive(Debug, Clone)]
pub struct LogStore {
    db: Arc<NodeDb>,
}

impl LogStore {
    pub fn new(db: Arc<NodeDb>) -> Self {
        Self { db }
    }

    fn state<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        let read = |e: &dyn std::fmt::Display| io_error(ErrorSubject::Store, ErrorVerb::Read, e);
        let raw = self.db.raw().get_cf(self.db.cf(CF_RAFT_STATE), key).map_err(|e| read(&e))?;
        raw.map(|bytes| serde_json::from_slice(&bytes).map_err(|e| read(&e))).transpose()
    }

    fn put_state<T: Serialize>(
        &self,
        key: &[u8],
        value: &T,
        subject: ErrorSubject<NodeId>,
    ) -> Result<(), StorageError> {
        let write = |e: &dyn std::fmt::Display| io_error(subject.clone(), ErrorVerb::Write, e);
        let bytes = serde_json::to_vec(value).map_err(|e| write(&e))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.db.cf(CF_RAFT_STATE), key, bytes);
        self.db.raw().write_opt(batch, &NodeDb::synced()).map_err(|e| write(&e))
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        self.db.raw().write_opt(batch, &NodeDb::synced()).map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Write, e))
    }

    fn last_entry(&self) -> Result<Option<Entry>, StorageError> {
        let cf = self.db.cf(CF_RAFT_LOG);
        match self.db.raw().iterator_cf(cf, IteratorMode::End).next() {
            None => Ok(None),
            Some(item) => {
                let (_, value) = item.map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
                Ok(Some(decode(&value)?))
            }
        }
    }
}

fn decode(bytes: &[u8]) -> Result<Entry, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e))
}

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let from = key(start);
        let cf = self.db.cf(CF_RAFT_LOG);
        let mut entries = Vec::new();
        for item in self.db.raw().iterator_cf(cf, IteratorMode::From(&from, Direction::Forward)) {
            let (k, value) = item.map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            let index = u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| io_error(ErrorSubject::Logs, ErrorVerb::Read, "raft_log key is not 8 bytes"))?,
            );
            if !range.contains(&index) {
                break;
            }
            entries.push(decode(&value)?);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.state(LAST_PURGED)?;
        let last_log_id = self.last_entry()?.map(|e| e.log_id).or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.put_state(VOTE, vote, ErrorSubject::Vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.state(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.put_state(COMMITTED, &committed, ErrorSubject::Store)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.state::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let cf = self.db.cf(CF_RAFT_LOG);
        let mut batch = WriteBatch::default();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry)
                .map_err(|e| io_error(ErrorSubject::Log(entry.log_id), ErrorVerb::Write, e))?;
            batch.put_cf(cf, key(entry.log_id.index), bytes);
        }
        let written = self.write(batch);
        callback.log_io_completed(written.as_ref().map(|_| ()).map_err(|e| std::io::Error::other(e.to_string())));
        written
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.db.cf(CF_RAFT_LOG), key(log_id.index), key(u64::MAX));
        batch.delete_cf(self.db.cf(CF_RAFT_LOG), key(u64::MAX));
        self.write(batch)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The purge point first: a crash between the two writes leaves entries that are
        // already covered, never a gap that nothing covers.
        self.put_state(LAST_PURGED, &log_id, ErrorSubject::Logs)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.db.cf(CF_RAFT_LOG), key(0), key(log_id.index + 1));
        self.write(batch)
    }
}
