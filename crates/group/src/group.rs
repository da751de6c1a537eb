//! [`Group`]: one consumer group's state — members in join order, generation, leader, chosen
//! protocol — and the bookkeeping the coordinator's timers need. Plain data; the rules that move
//! it live in [`crate::coordinator`].

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use crate::types::{GroupState, MemberSnapshot, Protocol, ReplyId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<Protocol>,
    pub assignment: Bytes,
    /// Last sign of life (join, sync, heartbeat, commit): the session timeout counts from here.
    pub last_seen_ms: i64,
    /// The JoinGroup waiting for the rebalance to complete.
    pub awaiting_join: Option<ReplyId>,
    /// The SyncGroup waiting for the leader's assignment.
    pub awaiting_sync: Option<ReplyId>,
}

impl Member {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|p| p.name == protocol).map(|p| p.metadata.clone()).unwrap_or_default()
    }

    pub fn snapshot(&self) -> MemberSnapshot {
        MemberSnapshot {
            member_id: self.id.clone(),
            group_instance_id: self.instance_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            session_timeout_ms: self.session_timeout_ms,
            rebalance_timeout_ms: self.rebalance_timeout_ms,
            protocols: self.protocols.clone(),
            assignment: self.assignment.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub generation: i32,
    pub leader: Option<String>,
    /// In join order: the first member becomes leader when the old one is gone.
    pub members: Vec<Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, and when they lapse if not used to rejoin.
    pub pending: HashMap<String, i64>,
    /// When the running rebalance gives up on members that have not rejoined.
    pub rebalance_deadline: Option<i64>,
    /// `group.initial.rebalance.delay.ms`: a rebalance from Empty waits for more members until then.
    pub initial_delay_until: Option<i64>,
    /// When the initial delay began: it is never extended past the rebalance timeout.
    pub initial_delay_started: Option<i64>,
    /// When the group last became Empty: its offsets expire counting from here (KIP-211).
    pub empty_since_ms: i64,
    /// Rebalances completed since this broker started coordinating the group (for metrics).
    pub rebalances: u64,
}

impl Group {
    pub fn new(id: &str, now: i64) -> Self {
        Self {
            id: id.to_string(),
            state: GroupState::Empty,
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
            initial_delay_started: None,
            empty_since_ms: now,
            rebalances: 0,
        }
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    pub fn member_by_instance(&self, instance: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.instance_id.as_deref() == Some(instance))
    }

    pub fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    /// Protocols every member supports (all of them while the group has no members).
    pub fn common_protocols(&self) -> Option<Vec<String>> {
        let mut members = self.members.iter();
        let first = members.next()?;
        let mut common: Vec<String> = first.protocols.iter().map(|p| p.name.clone()).collect();
        for m in members {
            common.retain(|name| m.protocols.iter().any(|p| &p.name == name));
        }
        Some(common)
    }

    /// Whether a member with these protocols may join: same protocol type, and at least one
    /// protocol in common with every current member.
    pub fn accepts(&self, protocol_type: &str, protocols: &[Protocol], ignoring: Option<&str>) -> bool {
        if protocols.is_empty() || protocol_type.is_empty() {
            return false;
        }
        let others: Vec<&Member> = self.members.iter().filter(|m| Some(m.id.as_str()) != ignoring).collect();
        if others.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref().is_some_and(|t| t != protocol_type) {
            return false;
        }
        protocols.iter().any(|p| others.iter().all(|m| m.protocols.iter().any(|q| q.name == p.name)))
    }

    /// Kafka's protocol choice: each member votes for the first protocol in its own preference
    /// order that every member supports; the most votes win (ties to the earliest candidate).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.common_protocols()?;
        let mut votes: BTreeMap<usize, usize> = BTreeMap::new();
        for m in &self.members {
            if let Some(choice) = m.protocols.iter().find_map(|p| candidates.iter().position(|c| c == &p.name)) {
                *votes.entry(choice).or_default() += 1;
            }
        }
        let best = votes.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))?;
        Some(candidates[*best.0].clone())
    }

    pub fn max_rebalance_timeout(&self) -> i64 {
        self.members.iter().map(|m| i64::from(m.rebalance_timeout_ms)).max().unwrap_or(0)
    }
}
