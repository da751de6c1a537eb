//! [`Proposer`]: metadata changes made from this broker. A change is proposed through Raft
//! ([`fjord_meta::Metadata`]) and, once this node has applied it, the hosted partitions are
//! brought in line before the caller hears back — so a client told "created" can produce at once,
//! and a coordinator that created its topic finds the partitions there.

use std::sync::Arc;

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
