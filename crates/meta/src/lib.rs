//! Cluster metadata for Fjord: brokers, topics, partitions and topic configs, changed only by typed
//! commands applied in order by a deterministic state machine, and persisted in the node's RocksDB.
//!
//! Today a node is a one-voter cluster of itself: a proposed command is written to the command log
//! and applied. Raft replication (openraft) slots in under [`Metadata::propose`] without changing
//! its callers.
//!
//! # Layout
//! - [`types`]: the domain records (brokers, topics, partitions) and the [`Command`]s that change them.
//! - [`image`]: [`MetadataImage`], the immutable state readers share, and its pure `apply`.
//! - [`store`]: [`NodeDb`], the node's RocksDB: command log, snapshots, node-local partition state.
//! - [`service`]: [`Metadata`], the handle that proposes commands and publishes new images.
//! - [`error`]: the one error type, [`MetaError`].

pub mod error;
pub mod image;
pub mod service;
pub mod store;
pub mod types;

pub use error::MetaError;
pub use image::MetadataImage;
pub use service::Metadata;
pub use store::NodeDb;
pub use types::{BrokerInfo, Command, Outcome, PartitionInfo, TopicInfo};
