//! Domain records of the cluster metadata and the commands that change them. Serialised as JSON in
//! the command log and snapshots: small, rare, and readable with `ldb` when something goes wrong.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A broker as registered with the controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    /// Set by the controller when the broker's heartbeats stop; a fenced broker is not listed to
    /// clients, leads nothing and gets no new replicas until it heartbeats again.
    #[serde(default)]
    pub fenced: bool,
    /// The broker shut down in a controlled way: it stays fenced, heartbeats or not, until it
    /// registers again.
    #[serde(default)]
    pub stopped: bool,
}

/// One partition's replica placement and leadership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionInfo {
    pub index: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub partition_epoch: i32,
}

/// A topic: its name, its immutable id, its partitions and the configs set on it (only overrides;
/// defaults come from the broker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<PartitionInfo>,
    pub configs: BTreeMap<String, String>,
}

/// A change to the cluster metadata. Validation that needs broker defaults (config values, name
/// rules) happens before proposing; the state machine checks what depends on the current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Names the cluster; only the first such command takes effect (every node proposes one at
    /// its first start, so the id is the one all of them agree on).
    InitCluster {
        cluster_id: String,
    },
    /// A broker (re)announces itself and its address; it is live (unfenced) from here on.
    RegisterBroker(BrokerInfo),
    /// The controller stopped hearing from the broker: it leads nothing until it is unfenced.
    FenceBroker {
        id: i32,
    },
    /// A fenced broker heartbeats again and takes back the partitions left without a leader.
    UnfenceBroker {
        id: i32,
    },
    CreateTopic {
        name: String,
        id: Uuid,
        partitions: i32,
        replication_factor: i32,
        configs: BTreeMap<String, String>,
        /// A manual replica assignment, one broker list per partition in order; `None`: the
        /// controller places the replicas.
        #[serde(default)]
        assignment: Option<Vec<Vec<i32>>>,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        count: i32,
        /// A manual assignment of the new partitions, one broker list each; `None`: placed by
        /// the controller.
        #[serde(default)]
        assignment: Option<Vec<Vec<i32>>>,
    },
    /// Replaces the topic's config overrides with `configs`.
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// Carries the metadata of a pre-Raft data directory into the replicated state, once, on a
    /// cluster that has no topics yet.
    Import(Box<crate::MetadataImage>),
    /// Reserves `count` producer ids for InitProducerId.
    AllocateProducerIds {
        count: i64,
    },
    /// A partition leader's new ISR (Kafka's AlterPartition): accepted only from the current
    /// leader at the current leader and partition epochs; members it adds must be live.
    AlterPartition {
        topic: String,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: Vec<i32>,
    },
    /// Controlled shutdown: the broker leads nothing, leaves every ISR it is not the last member
    /// of, and stays fenced until it registers again.
    ShutdownBroker {
        id: i32,
    },
    /// Gives each partition back to its preferred replica (the first listed) where that replica
    /// is live, in the ISR and not leading.
    ElectPreferredLeaders,
}

/// What applying a command produced, for the proposer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Done,
    /// The first of the reserved producer ids.
    ProducerIds {
        first: i64,
    },
}
