//! The Fjord broker: accepts Kafka clients, decodes their requests, runs the handler of each API
//! against the partition logs and the metadata image, and writes the responses back in order.
//!
//! # Layout
//! - [`config`]: broker properties (Kafka names), their sources and validation.
//! - [`topic_config`]: topic configs, their defaults, validation and mapping to log settings.
//! - [`server`]: startup (RocksDB, metadata, logs, listener), background tasks, graceful shutdown.
//! - [`connection`]: one task per client connection: frames in, ordered responses out.
//! - [`handlers`]: one module per Kafka API, and the registry that drives dispatch and ApiVersions.
//! - [`groups`]: the group coordinator at work: waiting requests, timers, `__consumer_offsets`.
//! - [`replica`]: the hosted partitions, kept in step with the metadata image.
//! - [`broker`]: [`Broker`], the state every handler reads (config, metadata, replicas).
//! - [`error`]: [`BrokerError`] and its one exhaustive mapping to Kafka error codes.
//! - [`telemetry`]: metrics, the HTTP endpoint (`/metrics`, `/health`, `/ready`), lifecycle state.

pub mod broker;
pub mod config;
pub mod connection;
pub mod error;
pub mod groups;
pub mod handlers;
pub mod replica;
pub mod server;
pub mod telemetry;
pub mod topic_config;

pub use broker::Broker;
pub use config::{BrokerConfig, ConfigError, ConfigSources};
pub use error::BrokerError;
pub use server::{RunningBroker, Starting};
