//! The Fjord broker: accepts Kafka clients, decodes their requests, runs the handler of each API
//! against the partition logs and the metadata image, and writes the responses back in order.
//!
//! # Layout
//! - [`config`]: broker properties (Kafka names), their sources and validation.
//! - [`topic_config`]: topic configs, their defaults, validation and mapping to log settings.
//! - [`server`]: startup (RocksDB, metadata, logs, listener), background tasks, graceful shutdown.
//! - [`connection`]: one task per client connection: frames in, ordered responses out.
//! - [`handlers`]: one module per Kafka API, and the registry that drives dispatch and ApiVersions.
//! - [`coordinator`]: coordinators over internal topics — the shared runtime, and the group
//!   coordinator on it.
//! - [`replica`]: the hosted partitions, kept in step with the metadata image; replication.
//! - [`cluster`]: [`cluster::Proposer`], metadata changes made from this broker.
//! - [`broker`]: [`Broker`], what every handler reads (config and subsystems).
//! - [`error`]: [`BrokerError`] and its one exhaustive mapping to Kafka error codes.
//! - [`telemetry`]: metrics, the HTTP endpoint (`/metrics`, `/health`, `/ready`), lifecycle state.

pub mod broker;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod coordinator;
pub mod error;
pub mod handlers;
pub mod replica;
pub mod server;
pub mod telemetry;
pub mod topic_config;

pub use broker::Broker;
pub use config::{BrokerConfig, ConfigError, ConfigSources};
pub use error::{BrokerError, StartupError};
pub use server::{RunningBroker, Starting};
