//! Cluster metadata for Fjord: brokers, topics, partitions and topic configs, changed only by typed
//! commands that a Raft quorum of controllers (openraft) agrees on and every node applies in the
//! same order to a deterministic state machine. Raft's log, vote and snapshots live in the
//! node's RocksDB. A node with no voters configured is a one-voter cluster of itself.
//!
//! # Layout
//! - [`types`]: the domain records (brokers, topics, partitions) and the [`Command`]s that change them.
//! - [`image`]: [`MetadataImage`], the immutable state readers share, and its pure `apply`.
//! - [`raft`]: the openraft type configuration (entries carry commands).
//! - [`log_store`]: [`LogStore`], the Raft log and vote in RocksDB.
//! - [`state_machine`]: [`StateMachine`], the applied image and its snapshots.
//! - [`network`]: the controllers' framed RPC and its client, [`network::Peer`].
//! - [`server`]: the RPC server on the `CONTROLLER` listener.
//! - [`controller`]: [`controller::Liveness`], the active controller's pure view of broker heartbeats.
//! - [`node`]: [`Metadata`], a running node: proposing, forwarding, images, heartbeats, fencing.
//! - [`store`]: [`NodeDb`], the node's RocksDB and its column families.
//! - [`error`]: the one error type, [`MetaError`].
//! - `clock`: the wall clock, read in one place.

mod clock;
pub mod controller;
pub mod error;
pub mod image;
pub mod log_store;
pub mod network;
pub mod node;
pub mod raft;
mod server;
pub mod state_machine;
pub mod store;
pub mod types;

pub use error::MetaError;
pub use image::MetadataImage;
pub use log_store::LogStore;
pub use node::{MetaConfig, Metadata};
pub use state_machine::StateMachine;
pub use store::NodeDb;
pub use types::{BrokerInfo, Command, Outcome, PartitionInfo, TopicInfo};
