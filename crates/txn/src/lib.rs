//! Transactions, the coordinator's side (KIP-98, with KIP-360's epoch bumps and KIP-447's
//! fencing): which producer id and epoch a transactional id has, which partitions its open
//! transaction wrote to, and how a transaction moves from Ongoing through PrepareCommit or
//! PrepareAbort to CompleteCommit or CompleteAbort.
//!
//! # Layout
//! - [`state`]: [`TxnState`] and [`TxnMetadata`], what one transactional id persists.
//! - [`coordinator`]: [`TxnCoordinator`], the pure state machine of one `__transaction_state`
//!   partition: a request and the time in, a [`Transit`] (the record to persist before the change
//!   takes effect) or an error out, then the markers to write. Nothing here sleeps, spawns or does
//!   I/O; the broker runs it.
//! - [`records`]: the `__transaction_state` record format (Kafka's `TransactionLogKey` v0 and
//!   `TransactionLogValue` v0).
//! - [`error`]: [`TxnError`], the ways a request is refused.

pub mod coordinator;
pub mod error;
pub mod records;
pub mod state;

pub use coordinator::{Config, InitDecision, Markers, Transit, TxnCoordinator};
pub use error::TxnError;
pub use state::{TxnMetadata, TxnState};
