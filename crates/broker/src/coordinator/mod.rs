//! Coordinators: state machines whose state lives in an internal compacted topic and is served by
//! the leader of each of its partitions.
//!
//! # Layout
//! - [`runtime`]: what every coordinator shares — placement of keys, takeover and replay of a
//!   partition when this broker starts leading it, acks=all writes, giving it up.
//! - [`groups`]: the classic consumer-group coordinator over `__consumer_offsets`.
//! - [`transactions`]: the transaction coordinator over `__transaction_state`, and the writing
//!   of transaction markers.

pub mod groups;
pub mod runtime;
pub mod transactions;

pub use groups::{GroupCoordinator, GroupsConfig, OFFSETS_TOPIC};
pub use runtime::{CoordinatorError, Durability, partition_for};
pub use transactions::{TRANSACTION_TOPIC, TransactionCoordinator, TransactionsConfig};
