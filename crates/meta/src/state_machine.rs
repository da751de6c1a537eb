//! [`StateMachine`]: openraft's state machine — the [`MetadataImage`] with the log id it was built
//! up to, and the snapshots of it.
//!
//! The image lives in memory and is published on a `watch` channel after every applied batch.
//! What is on disk is the latest snapshot (`raft_snapshot`: `meta` → JSON snapshot meta, `data` →
//! JSON image), written atomically when openraft builds or installs one. At open the image is the
//! snapshot's; openraft then re-applies the committed entries after it from the log, which is
//! never purged past the snapshot. So an apply needs no write of its own.
//!
//! Applying is deterministic: every node computes the same image from the same log.

// openraft's storage traits fix the error type (StorageError, over 200 bytes); the helpers
// here return the same type rather than convert at every call.
#![allow(clippy::result_large_err)]

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder, Snapshot, SnapshotMeta};
use rocksdb::WriteBatch;
use tokio::sync::watch;

use crate::raft::{Applied, Entry, LogId, NodeId, StorageError, StoredMembership, TypeConfig, io_error};
use crate::store::CF_RAFT_SNAPSHOT;
use crate::types::Outcome;
use crate::{MetadataImage, NodeDb};

const SNAPSHOT_META: &[u8] = b"meta";
const SNAPSHOT_DATA: &[u8] = b"data";

type Meta = SnapshotMeta<NodeId, openraft::BasicNode>;

/// Where images are published, shared by the state machine and the node that reads them.
#[derive(Debug)]
pub(crate) struct Published {
    pub images: watch::Sender<Arc<MetadataImage>>,
    /// The Raft leader as this node last saw it (-1: none), stamped on every published image.
    pub controller: AtomicI32,
}

impl Published {
    pub fn new() -> Self {
        Self { images: watch::channel(Arc::new(MetadataImage::default())).0, controller: AtomicI32::new(-1) }
    }

    /// Publishes `image` with the current controller id.
    pub fn publish(&self, image: &MetadataImage) {
        let mut image = image.clone();
        image.controller_id = self.controller.load(Ordering::Acquire);
        self.images.send_replace(Arc::new(image));
    }

    /// Stamps a new controller id on the current image.
    pub fn set_controller(&self, id: i32) {
        if self.controller.swap(id, Ordering::AcqRel) != id {
            self.images.send_modify(|image| Arc::make_mut(image).controller_id = id);
        }
    }
}

/// The applied metadata of this node.
#[derive(Debug)]
pub struct StateMachine {
    db: Arc<NodeDb>,
    image: MetadataImage,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    published: Arc<Published>,
}

impl StateMachine {
    /// Opens the state machine at the stored snapshot (empty without one) and publishes it.
    pub(crate) fn open(db: Arc<NodeDb>, published: Arc<Published>) -> Result<Self, StorageError> {
        let mut sm = Self {
            db,
            image: MetadataImage::default(),
            last_applied: None,
            membership: StoredMembership::default(),
            published,
        };
        if let Some((meta, data)) = sm.stored_snapshot()? {
            sm.load(&meta, &data)?;
        }
        sm.published.publish(&sm.image);
        Ok(sm)
    }

    /// A state machine on `db` that publishes nowhere else (for the storage test suite).
    pub fn standalone(db: Arc<NodeDb>) -> Result<Self, StorageError> {
        Self::open(db, Arc::new(Published::new()))
    }

    fn stored_snapshot(&self) -> Result<Option<(Meta, Vec<u8>)>, StorageError> {
        let read = |e: &dyn std::fmt::Display| io_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, e);
        let cf = self.db.cf(CF_RAFT_SNAPSHOT);
        let meta = self.db.raw().get_cf(cf, SNAPSHOT_META).map_err(|e| read(&e))?;
        let data = self.db.raw().get_cf(cf, SNAPSHOT_DATA).map_err(|e| read(&e))?;
        match (meta, data) {
            (Some(meta), Some(data)) => Ok(Some((serde_json::from_slice(&meta).map_err(|e| read(&e))?, data))),
            _ => Ok(None),
        }
    }

    fn store_snapshot(db: &NodeDb, meta: &Meta, data: &[u8]) -> Result<(), StorageError> {
        let write =
            |e: &dyn std::fmt::Display| io_error(ErrorSubject::Snapshot(Some(meta.signature())), ErrorVerb::Write, e);
        let cf = db.cf(CF_RAFT_SNAPSHOT);
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, SNAPSHOT_META, serde_json::to_vec(meta).map_err(|e| write(&e))?);
        batch.put_cf(cf, SNAPSHOT_DATA, data);
        db.raw().write_opt(batch, &NodeDb::synced()).map_err(|e| write(&e))
    }

    fn load(&mut self, meta: &Meta, data: &[u8]) -> Result<(), StorageError> {
        let image: MetadataImage = serde_json::from_slice(data)
            .map_err(|e| io_error(ErrorSubject::Snapshot(Some(meta.signature())), ErrorVerb::Read, e))?;
        self.image = image;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    fn apply_one(&mut self, entry: Entry) -> Applied {
        let index = entry.log_id.index;
        self.last_applied = Some(entry.log_id);
        let outcome = match entry.payload {
            EntryPayload::Blank => Ok(Outcome::Done),
            EntryPayload::Membership(m) => {
                self.membership = StoredMembership::new(Some(entry.log_id), m);
                Ok(Outcome::Done)
            }
            EntryPayload::Normal(command) => match self.image.apply(index, &command) {
                Ok((next, outcome)) => {
                    self.image = next;
                    Ok(outcome)
                }
                Err(refused) => Err(refused),
            },
        };
        // Refused commands and Raft's own entries advance the index too: a proposer waits for
        // its entry's index to be applied here, whatever the entry did.
        self.image.applied_index = index;
        outcome
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let replies: Vec<Applied> = entries.into_iter().map(|e| self.apply_one(e)).collect();
        self.published.publish(&self.image);
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            db: self.db.clone(),
            image: self.image.clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Box<Cursor<Vec<u8>>>) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        self.load(meta, &data)?;
        Self::store_snapshot(&self.db, meta, &data)?;
        tracing::info!(last_log_id = ?meta.last_log_id, "installed a metadata snapshot");
        self.published.publish(&self.image);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.stored_snapshot()?.map(|(meta, data)| Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

/// Serialises the image as it was when openraft asked for a snapshot.
#[derive(Debug)]
pub struct SnapshotBuilder {
    db: Arc<NodeDb>,
    image: MetadataImage,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let data =
            serde_json::to_vec(&self.image).map_err(|e| io_error(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))?;
        let snapshot_id = match self.last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, crate::clock::now_ms()),
            None => format!("empty-{}", crate::clock::now_ms()),
        };
        let meta = Meta { last_log_id: self.last_applied, last_membership: self.membership.clone(), snapshot_id };
        StateMachine::store_snapshot(&self.db, &meta, &data)?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}
