//! Requests the coordinator takes and results it gives, as plain data. The broker translates
//! the wire messages into these and back.

use bytes::Bytes;

use crate::GroupError;

/// Identifies a request awaiting its answer; the coordinator returns it in [`Action::Reply`].
pub type ReplyId = u64;

/// One protocol (assignor) a member supports, with its subscription metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub group_id: String,
    /// Empty on a member's first join.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub client_id: String,
    pub client_host: String,
    /// JoinGroup v4+: a new dynamic member is first given its id (MEMBER_ID_REQUIRED).
    pub require_known_member_id: bool,
}

/// A member as the leader sees it in the join result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member with its metadata for the chosen protocol — for the leader only.
    pub members: Vec<JoinMember>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// From the leader: each member's assignment.
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// One member leaving (LeaveGroup v3+ names several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// Who may commit offsets for a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest {
    pub group_id: String,
    /// -1 with an empty member id: an admin commit, allowed while the group has no members.
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// A group's states, named as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    /// The chosen protocol, once the group is Stable (empty otherwise, as Kafka reports it).
    pub protocol: String,
    pub members: Vec<DescribedMember>,
}

/// A group's membership as persisted, so a restarted coordinator knows the generation,
/// leader and assignments (Kafka's GroupMetadata record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub group_id: String,
    pub protocol_type: String,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: Vec<MemberSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSnapshot {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<Protocol>,
    pub assignment: Bytes,
}

/// A JoinGroup's outcome; a refusal still carries a member id (MEMBER_ID_REQUIRED hands it out).
pub type JoinOutcome = Result<JoinResult, (GroupError, String)>;

/// Each leaving member with its own outcome.
pub type LeaveOutcomes = Vec<(LeavingMember, Result<(), GroupError>)>;

/// An answer to a waiting request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Join(JoinOutcome),
    Sync(Result<SyncResult, GroupError>),
    Heartbeat(Result<(), GroupError>),
    Leave(Result<LeaveOutcomes, GroupError>),
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Reply(ReplyId, Reply),
    /// The group's membership changed in a way a restart must remember: persist it.
    Persist(GroupSnapshot),
    /// The group is gone: persist its removal (a tombstone).
    Forget(String),
}
