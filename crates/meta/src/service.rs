//! [`Metadata`]: the handle through which every metadata change is proposed and every reader gets
//! the current [`MetadataImage`].
//!
//! A proposal is validated by applying it to the current image; if that succeeds it is written to
//! the command log (synced), and the new image is published on a `watch` channel. Proposals are
//! serialised by a mutex held only for that short, synchronous step. On open, the snapshot is
//! loaded and the commands after it are replayed. This is the seam where Raft goes: the command
//! log becomes the Raft log and `propose` waits for commit.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use uuid::Uuid;

use crate::types::{Command, Outcome};
use crate::{MetaError, MetadataImage, NodeDb};

/// Commands between two snapshots.
const SNAPSHOT_EVERY: u64 = 1000;

/// The metadata of a one-voter cluster, persisted in the node's RocksDB.
#[derive(Debug)]
pub struct Metadata {
    db: Arc<NodeDb>,
    current: Mutex<Arc<MetadataImage>>,
    publish: watch::Sender<Arc<MetadataImage>>,
}

impl Metadata {
    /// Loads the metadata stored in `db` (a fresh cluster if there is none), with this node as the
    /// controller.
    pub fn open(db: Arc<NodeDb>, node_id: i32) -> Result<Self, MetaError> {
        let cluster_id = match db.node_value("cluster.id")? {
            Some(id) => id,
            None => {
                let id = new_cluster_id();
                db.set_node_value("cluster.id", &id)?;
                id
            }
        };
        let mut image = db.load_snapshot()?.unwrap_or_else(|| MetadataImage::new(cluster_id.clone(), node_id));
        image.cluster_id = cluster_id;
        image.controller_id = node_id;
        for (index, command) in db.commands_after(image.applied_index)? {
            image = match image.apply(index, &command) {
                Ok((next, _)) => next,
                // A stored command was valid when written; refusing it now means the code changed.
                Err(e) => return Err(MetaError::Storage(format!("replaying command {index} failed: {e}"))),
            };
        }
        let current = Arc::new(image);
        let (publish, _) = watch::channel(current.clone());
        Ok(Self { db, current: Mutex::new(current), publish })
    }

    /// Applies `command` if the state machine accepts it, durably, and publishes the new image.
    pub async fn propose(&self, command: Command) -> Result<Outcome, MetaError> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let index = current.applied_index + 1;
        let (next, outcome) = current.apply(index, &command)?;
        self.db.append_command(index, &command)?;
        if index.is_multiple_of(SNAPSHOT_EVERY) {
            self.db.save_snapshot(&next)?;
        }
        let next = Arc::new(next);
        *current = next.clone();
        self.publish.send_replace(next);
        Ok(outcome)
    }

    /// The current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.publish.borrow().clone()
    }

    /// A receiver that sees every new image.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.publish.subscribe()
    }

    /// The node database underneath, for node-local state.
    pub fn db(&self) -> &Arc<NodeDb> {
        &self.db
    }
}

/// A Kafka-style cluster id: a random UUID in URL-safe base64 without padding (22 characters).
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value = Uuid::new_v4().as_u128();
    (0..22)
        .map(|i| {
            let end = 6 * (i + 1);
            let sextet = if end <= 128 { value >> (128 - end) } else { value << (end - 128) };
            ALPHABET[(sextet & 63) as usize] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::types::BrokerInfo;

    fn open(dir: &std::path::Path) -> Metadata {
        Metadata::open(Arc::new(NodeDb::open(dir).unwrap()), 1).unwrap()
    }

    #[tokio::test]
    async fn proposals_survive_reopen_and_are_published() {
        let dir = tempfile::tempdir().unwrap();
        let cluster_id;
        {
            let meta = open(dir.path());
            let mut rx = meta.subscribe();
            meta.propose(Command::RegisterBroker(BrokerInfo { id: 1, host: "h".into(), port: 1, rack: None }))
                .await
                .unwrap();
            assert!(rx.has_changed().unwrap());
            let create = Command::CreateTopic {
                name: "t".into(),
                id: Uuid::new_v4(),
                partitions: 3,
                replication_factor: 1,
                configs: BTreeMap::new(),
            };
            meta.propose(create.clone()).await.unwrap();
            assert!(matches!(meta.propose(create).await, Err(MetaError::TopicExists(_))));
            assert_eq!(rx.borrow_and_update().topic("t").unwrap().partitions.len(), 3);
            cluster_id = meta.image().cluster_id.clone();
            assert_eq!(cluster_id.len(), 22);
        }
        let meta = open(dir.path());
        let image = meta.image();
        assert_eq!(image.cluster_id, cluster_id);
        assert_eq!(image.applied_index, 2, "the refused proposal was not stored");
        assert_eq!(image.topic("t").unwrap().partitions.len(), 3);
    }

    #[tokio::test]
    async fn snapshots_then_replays_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let meta = open(dir.path());
            for _ in 0..SNAPSHOT_EVERY + 5 {
                meta.propose(Command::AllocateProducerIds { count: 1 }).await.unwrap();
            }
        }
        let meta = open(dir.path());
        assert_eq!(meta.image().next_producer_id, SNAPSHOT_EVERY as i64 + 5);
        assert_eq!(meta.db().commands_after(0).unwrap().len(), 5);
    }
}
