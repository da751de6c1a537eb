//! [`Broker`]: what the handlers see of a running broker — its configuration and its subsystems
//! (metadata, hosted partitions, the group coordinator, metrics). Only the server, the connection
//! and the handlers name this type; every subsystem is built from its own dependencies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fjord_meta::{Command, Metadata, MetadataImage, Outcome};
use fjord_protocol::VersionTable;
use tokio::sync::watch;

use crate::cluster::Proposer;
use crate::coordinator::{Durability, GroupCoordinator, GroupsConfig};
use crate::replica::{Partition, ReplicaManager};
use crate::telemetry::Telemetry;
use crate::{BrokerConfig, BrokerError};

/// Producer ids reserved from the metadata log at a time.
const PRODUCER_ID_BLOCK: i64 = 1000;

/// How long a group write waits for the in-sync replicas (Kafka's `offsets.commit.timeout.ms`).
const COMMIT_TIMEOUT: Duration = Duration::from_secs(5);

/// What handlers need: configuration, metadata, hosted partitions, coordinators, the served API
/// table and the metric handles.
#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    pub meta: Arc<Metadata>,
    pub replicas: Arc<ReplicaManager>,
    /// Metadata changes, followed by the hosted partitions before they are answered.
    pub proposer: Proposer,
    pub versions: VersionTable,
    /// The consumer-group coordinator.
    pub groups: Arc<GroupCoordinator>,
    /// Host and port given to clients in Metadata.
    pub advertised: (String, u16),
    /// Metric handles and live counts.
    pub telemetry: Arc<Telemetry>,
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
        let proposer = Proposer::new(meta.clone(), replicas.clone());
        let groups = Arc::new(GroupCoordinator::new(groups_config(&config), replicas.clone(), proposer.clone()));
        Self {
            config,
            meta,
            replicas,
            proposer,
            versions: VersionTable::new(crate::handlers::APIS),
            groups,
            advertised,
            telemetry: Arc::new(Telemetry::new(crate::handlers::APIS)),
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
        self.proposer.propose(command).await
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
            return Err(BrokerError::Internal("producer id allocation returned no ids".into()));
        };
        let mut ids = self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
        *ids = (first + 1, first + PRODUCER_ID_BLOCK);
        Ok(first)
    }
}

/// The group coordinator's settings from the broker's. `offsets.topic.replication.factor` is
/// capped at the number of voters: a single broker gets 1, a three-node cluster 3 (and group
/// requests wait until three brokers are live, as Kafka's do).
fn groups_config(config: &BrokerConfig) -> GroupsConfig {
    GroupsConfig {
        group: config.group.clone(),
        partitions: config.offsets_topic_partitions,
        replication_factor: config.offsets_topic_replication_factor.min(config.voters.len().max(1) as i32),
        retention_ms: config.offsets_retention_ms,
        durability: Durability { fsync: config.flush_every_ack, timeout: COMMIT_TIMEOUT },
    }
}
