//! The openraft type configuration of the metadata quorum: log entries carry [`Command`]s, the
//! state machine answers each with an [`Applied`], nodes are numbered by `node.id` and addressed by
//! their `CONTROLLER` listener.

use std::io::Cursor;

use crate::MetaError;
use crate::types::{Command, Outcome};

openraft::declare_raft_types!(
    /// Fjord's Raft: metadata commands in, their outcomes out.
    pub TypeConfig:
        D = Command,
        R = Applied,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
);

/// What the state machine answered for one command: its outcome, or why it was refused.
pub type Applied = Result<Outcome, MetaError>;

/// A Raft node of Fjord's metadata quorum.
pub type Raft = openraft::Raft<TypeConfig>;
/// A node id (the broker's `node.id`).
pub type NodeId = u64;
/// A log id of Fjord's Raft log.
pub type LogId = openraft::LogId<NodeId>;
/// A storage error as openraft reports it.
pub type StorageError = openraft::StorageError<NodeId>;
/// The membership as applied.
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;

/// Turns a failure to read or write Raft state into openraft's error, logging it here: openraft
/// stops the node on a storage error, and its own logs are filtered out by default.
pub(crate) fn io_error(
    subject: openraft::ErrorSubject<NodeId>,
    verb: openraft::ErrorVerb,
    e: impl std::fmt::Display,
) -> StorageError {
    tracing::error!(?subject, ?verb, error = %e, "metadata storage failed");
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::error(e.to_string())).into()
}
