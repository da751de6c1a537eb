//! Consumer groups, Kafka's classic protocol: who is in a group, which generation it is in, who
//! leads it, which assignment each member got, and the offsets the group committed.
//!
//! # Layout
//! - [`types`]: requests in and results out, in the coordinator's own terms (no wire types).
//! - [`group`]: [`group::Group`] and its members — the state one group carries.
//! - [`coordinator`]: [`Coordinator`], the pure state machine: a request or a clock tick and the
//!   current time in, [`Action`]s out. Nothing here sleeps, spawns or does I/O; the broker runs it.
//! - [`offsets`]: [`offsets::OffsetStore`], committed offsets per group, and the record format
//!   groups and offsets are persisted in (`__consumer_offsets`).
//! - [`error`]: the one error type, [`GroupError`].

pub mod coordinator;
pub mod error;
pub mod group;
pub mod offsets;
pub mod types;

pub use coordinator::{Config, Coordinator};
pub use error::GroupError;
pub use types::*;
