//! [`Broker`]: what the handlers see of a running broker — its configuration and its subsystems
//! (metadata, hosted partitions, the group coordinator, metrics). Only the server, the connection
//! and the handlers name this type; every subsystem is built from its own dependencies.

use std::sync::Arc;
use std::time::Duration;

use fjord_meta::{Command, Metadata, MetadataImage, Outcome};
use fjord_protocol::VersionTable;
use tokio::sync::watch;

use crate::cluster::{ProducerIds, Proposer};
use crate::coordinator::{Durability, GroupCoordinator, GroupsConfig, TransactionCoordinator, TransactionsConfig};
use crate::replica::{Partition, ReplicaManager};
use crate::telemetry::Telemetry;
use crate::{BrokerConfig, BrokerError};

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
    /// The transaction coordinator.
    pub transactions: Arc<TransactionCoordinator>,
    /// Host and port given to clients in Metadata.
    pub advertised: (String, u16),
    /// Metric handles and live counts.
    pub telemetry: Arc<Telemetry>,
    /// Becomes true when shutdown begins: long polls answer at once.
    stop: watch::Receiver<bool>,
    /// Fresh producer ids.
    pub producer_ids: Arc<ProducerIds>,
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
        let producer_ids = Arc::new(ProducerIds::new(meta.clone()));
        let groups = Arc::new(GroupCoordinator::new(groups_config(&config), replicas.clone(), proposer.clone()));
        let transactions = TransactionCoordinator::new(
            transactions_config(&config),
            (replicas.clone(), proposer.clone(), groups.clone()),
            producer_ids.clone(),
        );
        Self {
            config,
            meta,
            replicas,
            proposer,
            versions: VersionTable::new(crate::handlers::APIS),
            groups,
            transactions,
            advertised,
            telemetry: Arc::new(Telemetry::new(crate::handlers::APIS)),
            stop,
            producer_ids,
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

/// The transaction coordinator's settings from the broker's, capped as the groups' are.
fn transactions_config(config: &BrokerConfig) -> TransactionsConfig {
    let t = &config.transactions;
    let replication_factor = t.replication_factor.min(config.voters.len().max(1) as i32);
    TransactionsConfig {
        node_id: config.node_id,
        txn: fjord_txn::Config { max_timeout_ms: t.max_timeout_ms, id_expiration_ms: t.id_expiration_ms },
        partitions: t.partitions,
        replication_factor,
        min_isr: t.min_isr.min(replication_factor),
        durability: Durability { fsync: config.flush_every_ack, timeout: COMMIT_TIMEOUT },
        abort_interval: Duration::from_millis(t.abort_interval_ms),
        expiry_interval: Duration::from_millis(t.expiry_interval_ms),
    }
}
