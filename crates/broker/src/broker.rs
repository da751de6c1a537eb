//! [`Broker`]: the shared state of a running broker, handed to every handler.

use std::sync::{Arc, Mutex};

use fjord_meta::{Command, Metadata, MetadataImage, Outcome};
use fjord_protocol::VersionTable;

use tokio::sync::watch;

use crate::replica::{Partition, ReplicaManager};
use crate::telemetry::Telemetry;
use crate::{BrokerConfig, BrokerError};

/// Producer ids reserved from the metadata log at a time.
const PRODUCER_ID_BLOCK: i64 = 1000;

/// What handlers need: configuration, metadata, hosted partitions, the served API table.
#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    pub meta: Arc<Metadata>,
    pub replicas: Arc<ReplicaManager>,
    pub versions: VersionTable,
    /// The consumer-group coordinator.
    pub groups: crate::groups::Groups,
    /// Host and port given to clients in Metadata.
    pub advertised: (String, u16),
    /// Metric handles and live counts.
    pub telemetry: Telemetry,
    /// Becomes true when shutdown begins: long polls answer at once.
    stop: watch::Receiver<bool>,
    producer_ids: Mutex<(i64, i64)>,
}

impl Broker {
    pub(crate) fn new(
        config: BrokerConfig,
        meta: Arc<Metadata>,
        replicas: Arc<ReplicaManager>,
        advertised: (String, u16),
        stop: watch::Receiver<bool>,
    ) -> Self {
        let groups = crate::groups::Groups::new(config.group.clone(), config.offsets_topic_partitions);
        Self {
            config,
            meta,
            replicas,
            versions: VersionTable::new(crate::handlers::APIS),
            groups,
            advertised,
            telemetry: Telemetry::new(crate::handlers::APIS),
            stop,
            producer_ids: Mutex::new((0, 0)),
        }
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Completes when shutdown begins.
    pub async fn stopped(&self) {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|stopping| *stopping).await;
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.meta.image()
    }

    /// The hosted partition `topic`/`index` when this broker leads it — the one clients may
    /// produce to and fetch from. A partition that exists but is led elsewhere (or by no one)
    /// is NOT_LEADER_OR_FOLLOWER, so that clients refresh their metadata and find the leader.
    pub fn leader_partition(&self, topic: &str, index: i32) -> Result<Arc<Partition>, BrokerError> {
        match self.replicas.partition(topic, index) {
            Some(p) if p.leader() == self.config.node_id => Ok(p),
            Some(_) => Err(BrokerError::NotLeaderOrFollower),
            None => match self.image().topic(topic) {
                Some(t) if index >= 0 && (index as usize) < t.partitions.len() => Err(BrokerError::NotLeaderOrFollower),
                _ => Err(BrokerError::UnknownTopicOrPartition),
            },
        }
    }

    /// Proposes a metadata change and, once applied, brings the hosted partitions in line, so
    /// that a client told "created" can produce at once.
    pub async fn propose(&self, command: Command) -> Result<Outcome, BrokerError> {
        let outcome = self.meta.propose(command).await?;
        self.replicas.reconcile(&self.meta.image())?;
        Ok(outcome)
    }

    /// A fresh producer id, from a block reserved through the metadata log (ids are never reused,
    /// even across restarts).
    pub async fn next_producer_id(&self) -> Result<i64, BrokerError> {
        {
            let mut ids = self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
            if ids.0 < ids.1 {
                ids.0 += 1;
                return Ok(ids.0 - 1);
            }
        }
        let Outcome::ProducerIds { first } =
            self.meta.propose(Command::AllocateProducerIds { count: PRODUCER_ID_BLOCK }).await?
        else {
            return Err(BrokerError::Storage("producer id allocation returned no ids".into()));
        };
        let mut ids = self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
        *ids = (first + 1, first + PRODUCER_ID_BLOCK);
        Ok(first)
    }
}
