//! [`Proposer`]: metadata changes made from this broker. A change is proposed through Raft
//! ([`fjord_meta::Metadata`]) and, once this node has applied it, the hosted partitions are
//! brought in line before the caller hears back — so a client told "created" can produce at once,
//! and a coordinator that created its topic finds the partitions there. [`ProducerIds`]: fresh
//! producer ids, from blocks reserved the same way.

use std::sync::{Arc, Mutex};

use fjord_meta::{Command, Metadata, MetadataImage, Outcome};
use tokio::sync::watch;

use crate::BrokerError;
use crate::replica::ReplicaManager;

/// Proposes metadata commands and applies their outcome to this broker's replicas.
#[derive(Debug, Clone)]
pub struct Proposer {
    meta: Arc<Metadata>,
    replicas: Arc<ReplicaManager>,
}

impl Proposer {
    pub fn new(meta: Arc<Metadata>, replicas: Arc<ReplicaManager>) -> Self {
        Self { meta, replicas }
    }

    /// Proposes `command`; once applied here, the hosted partitions follow the new image.
    pub async fn propose(&self, command: Command) -> Result<Outcome, BrokerError> {
        let outcome = self.meta.propose(command).await?;
        self.replicas.reconcile(self.meta.image()).await?;
        Ok(outcome)
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.meta.image()
    }

    /// A receiver of every new image.
    pub fn images(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.meta.subscribe()
    }
}

/// Producer ids reserved from the metadata log at a time.
const PRODUCER_ID_BLOCK: i64 = 1000;

/// Fresh producer ids (idempotent producers, transactional ids), from blocks reserved through
/// the metadata log: never handed out twice, even across restarts.
#[derive(Debug)]
pub struct ProducerIds {
    meta: Arc<Metadata>,
    /// (next, end) of the block in use.
    block: Mutex<(i64, i64)>,
}

impl ProducerIds {
    pub fn new(meta: Arc<Metadata>) -> Self {
        Self { meta, block: Mutex::new((0, 0)) }
    }

    /// A producer id never handed out before.
    pub async fn next(&self) -> Result<i64, BrokerError> {
        {
            let mut ids = self.block.lock().unwrap_or_else(|p| p.into_inner());
            if ids.0 < ids.1 {
                ids.0 += 1;
                return Ok(ids.0 - 1);
            }
        }
        let Outcome::ProducerIds { first } =
            self.meta.propose(Command::AllocateProducerIds { count: PRODUCER_ID_BLOCK }).await?
        else {
            return Err(BrokerError::Internal("producer id allocation returned no ids".into()));
        };
        let mut ids = self.block.lock().unwrap_or_else(|p| p.into_inner());
        *ids = (first + 1, first + PRODUCER_ID_BLOCK);
        Ok(first)
    }
}
