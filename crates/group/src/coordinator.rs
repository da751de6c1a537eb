//! [`Coordinator`]: the classic group protocol as a pure state machine.
//!
//! Each call takes a request (or a clock tick) and the current time, changes the groups, and
//! returns [`Action`]s: answers for requests that were waiting (a JoinGroup waits for the
//! rebalance to complete, a follower's SyncGroup for the leader's assignment) and group states to
//! persist. The runtime calls [`Coordinator::tick`] at [`Coordinator::next_deadline`]. No clocks,
//! threads or I/O here, so every timing rule is tested with plain numbers.
//!
//! The rules are Kafka's (its GroupCoordinator for the classic protocol): groups move
//! Empty → PreparingRebalance → CompletingRebalance → Stable and back; a rebalance completes when
//! every member has rejoined or the rebalance timeout ends (members that did not rejoin are
//! removed); the first rebalance of an empty group waits `group.initial.rebalance.delay.ms` for
//! more members; members that stop heartbeating for their session timeout are removed; static
//! members (`group.instance.id`) keep their place across restarts and fence their predecessors.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::GroupError;
use crate::group::{Group, Member};
use crate::types::*;

/// Coordinator settings (Kafka's broker properties of the same meaning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `group.initial.rebalance.delay.ms`
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`
    pub max_session_timeout_ms: i32,
}

impl Default for Config {
    fn default() -> Self {
        Self { initial_rebalance_delay_ms: 3_000, min_session_timeout_ms: 6_000, max_session_timeout_ms: 1_800_000 }
    }
}

#[derive(Debug, Default)]
pub struct Coordinator {
    config: Config,
    groups: BTreeMap<String, Group>,
    next_member: u64,
}

type JoinError = (GroupError, String);

impl Coordinator {
    pub fn new(config: Config) -> Self {
        Self { config, groups: BTreeMap::new(), next_member: 0 }
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    /// Every group this coordinator holds.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// JoinGroup. Answered at once or, when the member must wait for the rebalance, later.
    pub fn join(&mut self, reply: ReplyId, req: JoinRequest, now: i64) -> Vec<Action> {
        let mut out = Vec::new();
        match self.try_join(reply, req, now, &mut out) {
            Ok(()) => {}
            Err(e) => out.push(Action::Reply(reply, Reply::Join(Err(e)))),
        }
        out
    }

    fn try_join(&mut self, reply: ReplyId, req: JoinRequest, now: i64, out: &mut Vec<Action>) -> Result<(), JoinError> {
        let fail = |e: GroupError| (e, req.member_id.clone());
        if req.group_id.is_empty() {
            return Err(fail(GroupError::InvalidGroupId));
        }
        let (min, max) = (self.config.min_session_timeout_ms, self.config.max_session_timeout_ms);
        if !(min..=max).contains(&req.session_timeout_ms) {
            return Err(fail(GroupError::InvalidSessionTimeout { got: req.session_timeout_ms, min, max }));
        }
        if !self.groups.contains_key(&req.group_id) {
            if !req.member_id.is_empty() && req.group_instance_id.is_none() {
                return Err(fail(GroupError::UnknownMemberId(req.member_id.clone())));
            }
            self.groups.insert(req.group_id.clone(), Group::new(&req.group_id, now));
        }
        // Kafka strings are at most i16::MAX bytes: keep generated ids well inside that.
        let client: String = req.client_id.chars().take(200).collect();
        let new_id = format!("{client}-{:x}-{}", now, self.next_member);
        let group = self.groups.get_mut(&req.group_id).expect("inserted above");
        let ignoring = if req.member_id.is_empty() { None } else { Some(req.member_id.as_str()) };
        if !group.accepts(&req.protocol_type, &req.protocols, ignoring) {
            return Err(fail(GroupError::InconsistentGroupProtocol));
        }

        let mut is_new = false;
        let member_id = if req.member_id.is_empty() {
            self.next_member += 1;
            match &req.group_instance_id {
                Some(instance) => match group.member_by_instance(instance).map(|m| m.id.clone()) {
                    Some(old) => {
                        replace_static_member(group, &old, &new_id, out);
                        new_id
                    }
                    None => {
                        is_new = true;
                        new_id
                    }
                },
                None if req.require_known_member_id => {
                    group.pending.insert(new_id.clone(), now + i64::from(req.session_timeout_ms));
                    return Err((GroupError::MemberIdRequired, new_id));
                }
                None => {
                    is_new = true;
                    new_id
                }
            }
        } else if let Some(m) = group.member(&req.member_id) {
            if req.group_instance_id.is_some() && m.instance_id != req.group_instance_id {
                return Err(fail(GroupError::FencedInstanceId(req.group_instance_id.clone().unwrap_or_default())));
            }
            req.member_id.clone()
        } else if group.pending.remove(&req.member_id).is_some() {
            is_new = true;
            req.member_id.clone()
        } else if let Some(instance) = req.group_instance_id.as_ref().filter(|i| group.member_by_instance(i).is_some())
        {
            return Err(fail(GroupError::FencedInstanceId(instance.clone())));
        } else {
            return Err(fail(GroupError::UnknownMemberId(req.member_id.clone())));
        };

        let changed = if is_new {
            group.members.push(Member {
                id: member_id.clone(),
                instance_id: req.group_instance_id.clone(),
                client_id: req.client_id.clone(),
                client_host: req.client_host.clone(),
                session_timeout_ms: req.session_timeout_ms,
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                protocols: req.protocols.clone(),
                assignment: Bytes::new(),
                last_seen_ms: now,
                awaiting_join: None,
                awaiting_sync: None,
            });
            true
        } else {
            let m = group.member_mut(&member_id).expect("known member");
            let changed = m.protocols != req.protocols;
            m.protocols = req.protocols.clone();
            m.session_timeout_ms = req.session_timeout_ms;
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            m.client_id = req.client_id.clone();
            m.client_host = req.client_host.clone();
            m.last_seen_ms = now;
            changed
        };
        if group.members.len() == 1 && is_new {
            // The first member of an empty group decides its protocol type afresh.
            group.protocol_type = Some(req.protocol_type.clone());
        }

        match group.state {
            // A member already in this generation, rejoining without changes, gets the
            // generation's answer again and goes on to sync (Kafka does not rebalance for it).
            GroupState::CompletingRebalance | GroupState::Stable
                if !(changed || group.state == GroupState::Stable && group.is_leader(&member_id)) =>
            {
                out.push(Action::Reply(reply, Reply::Join(Ok(join_result(group, &member_id)))));
                return Ok(());
            }
            GroupState::PreparingRebalance => {
                if is_new {
                    extend_initial_delay(group, self.config.initial_rebalance_delay_ms, now);
                }
            }
            _ => prepare_rebalance(group, self.config.initial_rebalance_delay_ms, now, out),
        }
        let m = group.member_mut(&member_id).expect("member present");
        if let Some(previous) = m.awaiting_join.replace(reply) {
            out.push(Action::Reply(previous, Reply::Join(Err((GroupError::RebalanceInProgress, member_id.clone())))));
        }
        maybe_complete_join(group, now, out);
        Ok(())
    }

    /// SyncGroup. The leader's call hands out the assignments; followers wait for it.
    pub fn sync(&mut self, reply: ReplyId, req: SyncRequest, now: i64) -> Vec<Action> {
        let mut out = Vec::new();
        if let Err(e) = self.try_sync(reply, &req, now, &mut out) {
            out.push(Action::Reply(reply, Reply::Sync(Err(e))));
        }
        out
    }

    fn try_sync(
        &mut self,
        reply: ReplyId,
        req: &SyncRequest,
        now: i64,
        out: &mut Vec<Action>,
    ) -> Result<(), GroupError> {
        let group =
            self.groups.get_mut(&req.group_id).ok_or_else(|| GroupError::UnknownMemberId(req.member_id.clone()))?;
        check_member(group, &req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != group.generation {
            return Err(GroupError::IllegalGeneration { got: req.generation_id, current: group.generation });
        }
        let type_differs = req.protocol_type.as_ref().is_some_and(|t| group.protocol_type.as_ref() != Some(t));
        let name_differs = req.protocol_name.as_ref().is_some_and(|n| group.protocol_name.as_ref() != Some(n));
        if type_differs || name_differs {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        match group.state {
            GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId(req.member_id.clone())),
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            GroupState::Stable => {
                let m = group.member_mut(&req.member_id).expect("checked");
                m.last_seen_ms = now;
                let assignment = m.assignment.clone();
                out.push(Action::Reply(reply, Reply::Sync(Ok(sync_result(group, assignment)))));
                Ok(())
            }
            GroupState::CompletingRebalance => {
                let m = group.member_mut(&req.member_id).expect("checked");
                m.last_seen_ms = now;
                if let Some(previous) = m.awaiting_sync.replace(reply) {
                    out.push(Action::Reply(previous, Reply::Sync(Err(GroupError::RebalanceInProgress))));
                }
                if group.is_leader(&req.member_id) {
                    for m in &mut group.members {
                        m.assignment = req
                            .assignments
                            .iter()
                            .find(|(id, _)| id == &m.id)
                            .map(|(_, a)| a.clone())
                            .unwrap_or_default();
                    }
                    group.state = GroupState::Stable;
                    let waiting: Vec<(ReplyId, Bytes)> = group
                        .members
                        .iter_mut()
                        .filter_map(|m| m.awaiting_sync.take().map(|r| (r, m.assignment.clone())))
                        .collect();
                    for (r, assignment) in waiting {
                        out.push(Action::Reply(r, Reply::Sync(Ok(sync_result(group, assignment)))));
                    }
                    out.push(Action::Persist(snapshot(group)));
                }
                Ok(())
            }
        }
    }

    /// Heartbeat: keeps a member's session alive and tells it when to rejoin.
    pub fn heartbeat(&mut self, req: &HeartbeatRequest, now: i64) -> Result<(), GroupError> {
        let group =
            self.groups.get_mut(&req.group_id).ok_or_else(|| GroupError::UnknownMemberId(req.member_id.clone()))?;
        check_member(group, &req.member_id, req.group_instance_id.as_deref())?;
        if group.state == GroupState::Empty {
            return Err(GroupError::UnknownMemberId(req.member_id.clone()));
        }
        if req.generation_id != group.generation && group.state != GroupState::PreparingRebalance {
            return Err(GroupError::IllegalGeneration { got: req.generation_id, current: group.generation });
        }
        group.member_mut(&req.member_id).expect("checked").last_seen_ms = now;
        match group.state {
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// LeaveGroup for one or more members; the answer is immediate.
    pub fn leave(&mut self, group_id: &str, leaving: Vec<LeavingMember>, now: i64) -> (Reply, Vec<Action>) {
        let mut out = Vec::new();
        let Some(group) = self.groups.get_mut(group_id) else {
            return (Reply::Leave(Err(GroupError::UnknownMemberId(String::new()))), out);
        };
        let mut results = Vec::with_capacity(leaving.len());
        for who in leaving {
            let result = leave_one(group, &who, now, self.config.initial_rebalance_delay_ms, &mut out);
            results.push((who, result));
        }
        (Reply::Leave(Ok(results)), out)
    }

    /// Checks that an OffsetCommit may go ahead, as Kafka does: an admin commit (generation -1,
    /// no member) only while the group has no members — creating the group if it is new — and a
    /// member's commit only from a current member of the current generation, not mid-sync.
    pub fn check_commit(&mut self, req: &CommitRequest, now: i64) -> Result<(), GroupError> {
        if req.group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let admin = req.generation_id < 0 && req.member_id.is_empty();
        let group = match self.groups.get_mut(&req.group_id) {
            Some(group) => group,
            None if admin => {
                self.groups.insert(req.group_id.clone(), Group::new(&req.group_id, now));
                return Ok(());
            }
            None => return Err(GroupError::IllegalGeneration { got: req.generation_id, current: -1 }),
        };
        if admin && group.state == GroupState::Empty {
            return Ok(());
        }
        // Before the member and generation checks, as Kafka's coordinator orders them: a member
        // committing with the generation it had while the next one completes is told to finish
        // the rebalance (retriable), not that its generation is illegal (which drops its
        // partitions — and breaks cooperative rebalancing, where members keep consuming).
        if group.state == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        check_member(group, &req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != group.generation {
            return Err(GroupError::IllegalGeneration { got: req.generation_id, current: group.generation });
        }
        group.member_mut(&req.member_id).expect("checked").last_seen_ms = now;
        Ok(())
    }

    /// Checks a TxnOffsetCommit as Kafka does (KIP-447): without generation, member and instance
    /// (a v0–v2 producer) it is accepted whatever the group's members — creating the group if it
    /// is new; with them, the member must be a current one of the current generation. A
    /// rebalance in progress does not stop it.
    pub fn check_txn_commit(&mut self, req: &CommitRequest, now: i64) -> Result<(), GroupError> {
        if req.group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let anonymous = req.generation_id < 0 && req.member_id.is_empty() && req.group_instance_id.is_none();
        let group = match self.groups.get_mut(&req.group_id) {
            Some(group) => group,
            None if req.generation_id < 0 => {
                self.groups.insert(req.group_id.clone(), Group::new(&req.group_id, now));
                return Ok(());
            }
            None => return Err(GroupError::IllegalGeneration { got: req.generation_id, current: -1 }),
        };
        if anonymous {
            return Ok(());
        }
        check_member(group, &req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != group.generation {
            return Err(GroupError::IllegalGeneration { got: req.generation_id, current: group.generation });
        }
        Ok(())
    }

    /// Whether the group exists and has no members (offsets may then be deleted or reset).
    pub fn state(&self, group_id: &str) -> Option<GroupState> {
        self.groups.get(group_id).map(|g| g.state)
    }

    pub fn describe(&self, group_id: &str) -> DescribedGroup {
        match self.groups.get(group_id) {
            None => DescribedGroup {
                group_id: group_id.to_string(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            },
            Some(g) => DescribedGroup {
                group_id: g.id.clone(),
                state: g.state,
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                protocol: if g.state == GroupState::Stable {
                    g.protocol_name.clone().unwrap_or_default()
                } else {
                    String::new()
                },
                members: g
                    .members
                    .iter()
                    .map(|m| DescribedMember {
                        member_id: m.id.clone(),
                        group_instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        metadata: if g.state == GroupState::Stable {
                            g.protocol_name.as_deref().map(|p| m.metadata_for(p)).unwrap_or_default()
                        } else {
                            Bytes::new()
                        },
                        assignment: if g.state == GroupState::Stable { m.assignment.clone() } else { Bytes::new() },
                    })
                    .collect(),
            },
        }
    }

    /// Every group: (id, protocol type, state).
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        self.groups.values().map(|g| (g.id.clone(), g.protocol_type.clone().unwrap_or_default(), g.state)).collect()
    }

    /// DeleteGroups for one group: only an empty group can go.
    pub fn delete(&mut self, group_id: &str) -> Result<Vec<Action>, GroupError> {
        let group = self.groups.get(group_id).ok_or_else(|| GroupError::GroupIdNotFound(group_id.to_string()))?;
        if group.state != GroupState::Empty {
            return Err(GroupError::NonEmptyGroup(group_id.to_string()));
        }
        self.groups.remove(group_id);
        Ok(vec![Action::Forget(group_id.to_string())])
    }

    /// Drops a group this broker no longer coordinates (its `__consumer_offsets` partition is
    /// led elsewhere now): requests waiting on it are answered NOT_COORDINATOR, so that their
    /// clients find the new coordinator, which loads the group from the replicated partition.
    pub fn unload(&mut self, group_id: &str) -> Vec<Action> {
        let Some(group) = self.groups.remove(group_id) else { return Vec::new() };
        let gone = || GroupError::NotCoordinator(group_id.to_string());
        let mut actions = Vec::new();
        for m in group.members {
            if let Some(id) = m.awaiting_join {
                actions.push(Action::Reply(id, Reply::Join(Err((gone(), m.id.clone())))));
            }
            if let Some(id) = m.awaiting_sync {
                actions.push(Action::Reply(id, Reply::Sync(Err(gone()))));
            }
        }
        actions
    }

    /// Brings back a group persisted before a restart: Stable with its members and assignments
    /// (their sessions start now), or Empty.
    pub fn restore(&mut self, s: GroupSnapshot, now: i64) {
        let mut group = Group::new(&s.group_id, now);
        group.protocol_type = Some(s.protocol_type).filter(|t| !t.is_empty());
        group.protocol_name = s.protocol_name;
        group.generation = s.generation_id;
        group.leader = s.leader;
        group.members = s
            .members
            .into_iter()
            .map(|m| Member {
                id: m.member_id,
                instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocols: m.protocols,
                assignment: m.assignment,
                last_seen_ms: now,
                awaiting_join: None,
                awaiting_sync: None,
            })
            .collect();
        // A generation whose leader never synced has no assignments to hand back: start empty.
        let unassigned = group.members.iter().all(|m| m.assignment.is_empty());
        group.state = if group.members.is_empty() || group.protocol_name.is_none() || unassigned {
            group.members.clear();
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        self.groups.insert(s.group_id, group);
    }

    /// Makes a group known as Empty (a group that only has committed offsets).
    pub fn ensure_group(&mut self, group_id: &str, now: i64) {
        self.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, now));
    }

    /// When a group without members became Empty (`None`: it has members, or is unknown).
    pub fn empty_since(&self, group_id: &str) -> Option<i64> {
        self.groups.get(group_id).filter(|g| g.state == GroupState::Empty).map(|g| g.empty_since_ms)
    }

    /// Applies every timer due by `now`: lapsed member ids, expired sessions, ended rebalance
    /// timeouts and initial delays.
    pub fn tick(&mut self, now: i64) -> Vec<Action> {
        let mut out = Vec::new();
        let delay = self.config.initial_rebalance_delay_ms;
        for group in self.groups.values_mut() {
            group.pending.retain(|_, deadline| *deadline > now);
            let expired: Vec<String> = group
                .members
                .iter()
                .filter(|m| m.awaiting_join.is_none() && m.awaiting_sync.is_none())
                .filter(|m| m.last_seen_ms + i64::from(m.session_timeout_ms) <= now)
                .map(|m| m.id.clone())
                .collect();
            for id in expired {
                remove_member(group, &id, delay, now, &mut out);
            }
            maybe_complete_join(group, now, &mut out);
        }
        out
    }

    /// The earliest time [`Coordinator::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<i64> {
        let mut next: Option<i64> = None;
        let mut consider = |t: i64| next = Some(next.map_or(t, |n| n.min(t)));
        for g in self.groups.values() {
            g.pending.values().for_each(|&t| consider(t));
            for m in g.members.iter().filter(|m| m.awaiting_join.is_none() && m.awaiting_sync.is_none()) {
                consider(m.last_seen_ms + i64::from(m.session_timeout_ms));
            }
            if g.state == GroupState::PreparingRebalance {
                if let Some(t) = g.initial_delay_until {
                    consider(t);
                }
                if let Some(t) = g.rebalance_deadline {
                    consider(t);
                }
            }
        }
        next
    }
}

/// A static member rejoined without its member id: the old id is fenced and the member
/// continues under the new one, keeping its place (and leadership).
fn replace_static_member(group: &mut Group, old: &str, new: &str, out: &mut Vec<Action>) {
    let m = group.member_mut(old).expect("found by instance id");
    m.id = new.to_string();
    let instance = m.instance_id.clone().unwrap_or_default();
    if let Some(r) = m.awaiting_join.take() {
        out.push(Action::Reply(r, Reply::Join(Err((GroupError::FencedInstanceId(instance.clone()), old.to_string())))));
    }
    if let Some(r) = m.awaiting_sync.take() {
        out.push(Action::Reply(r, Reply::Sync(Err(GroupError::FencedInstanceId(instance)))));
    }
    if group.is_leader(old) {
        group.leader = Some(new.to_string());
    }
}

fn check_member(group: &Group, member_id: &str, instance: Option<&str>) -> Result<(), GroupError> {
    if let Some(instance) = instance {
        match group.member_by_instance(instance) {
            Some(m) if m.id != member_id => return Err(GroupError::FencedInstanceId(instance.to_string())),
            _ => {}
        }
    }
    if group.member(member_id).is_none() {
        return Err(GroupError::UnknownMemberId(member_id.to_string()));
    }
    Ok(())
}

fn leave_one(
    group: &mut Group,
    who: &LeavingMember,
    now: i64,
    delay: i64,
    out: &mut Vec<Action>,
) -> Result<(), GroupError> {
    let id = match &who.group_instance_id {
        Some(instance) => {
            let m =
                group.member_by_instance(instance).ok_or_else(|| GroupError::UnknownMemberId(who.member_id.clone()))?;
            if !who.member_id.is_empty() && who.member_id != m.id {
                return Err(GroupError::FencedInstanceId(instance.clone()));
            }
            m.id.clone()
        }
        None if group.pending.remove(&who.member_id).is_some() => return Ok(()),
        None => group
            .member(&who.member_id)
            .map(|m| m.id.clone())
            .ok_or_else(|| GroupError::UnknownMemberId(who.member_id.clone()))?,
    };
    remove_member(group, &id, delay, now, out);
    maybe_complete_join(group, now, out);
    Ok(())
}

/// Removes a member; the others must rebalance without it.
fn remove_member(group: &mut Group, id: &str, delay: i64, now: i64, out: &mut Vec<Action>) {
    let Some(at) = group.members.iter().position(|m| m.id == id) else { return };
    let m = group.members.remove(at);
    if let Some(r) = m.awaiting_join {
        out.push(Action::Reply(r, Reply::Join(Err((GroupError::UnknownMemberId(m.id.clone()), m.id.clone())))));
    }
    if let Some(r) = m.awaiting_sync {
        out.push(Action::Reply(r, Reply::Sync(Err(GroupError::UnknownMemberId(m.id.clone())))));
    }
    if group.is_leader(id) {
        group.leader = group.members.first().map(|m| m.id.clone());
    }
    match group.state {
        GroupState::Stable | GroupState::CompletingRebalance => prepare_rebalance(group, delay, now, out),
        _ => {}
    }
}

/// Starts a rebalance: members must rejoin. Followers waiting in SyncGroup are told to.
fn prepare_rebalance(group: &mut Group, delay: i64, now: i64, out: &mut Vec<Action>) {
    if group.state == GroupState::CompletingRebalance {
        for m in &mut group.members {
            if let Some(r) = m.awaiting_sync.take() {
                out.push(Action::Reply(r, Reply::Sync(Err(GroupError::RebalanceInProgress))));
            }
        }
    }
    if group.state == GroupState::Empty && delay > 0 {
        group.initial_delay_started = Some(now);
        group.initial_delay_until = Some(now + delay);
    } else {
        group.initial_delay_started = None;
        group.initial_delay_until = None;
    }
    group.rebalance_deadline = Some(now + group.max_rebalance_timeout());
    group.state = GroupState::PreparingRebalance;
}

/// Another member joined during the initial delay: wait a little longer for more, but never
/// past the rebalance timeout.
fn extend_initial_delay(group: &mut Group, delay: i64, now: i64) {
    if let (Some(_), Some(started)) = (group.initial_delay_until, group.initial_delay_started) {
        let limit = started + group.max_rebalance_timeout().max(delay);
        group.initial_delay_until = Some((now + delay).min(limit));
    }
}

/// Completes the rebalance once every member has rejoined (and nobody holds a fresh member id
/// yet), or once the rebalance timeout ends, dropping the members that did not rejoin.
fn maybe_complete_join(group: &mut Group, now: i64, out: &mut Vec<Action>) {
    if group.state != GroupState::PreparingRebalance {
        return;
    }
    match group.initial_delay_until {
        Some(t) if now < t => return,
        // The initial delay is over: from here on the group waits only for its members.
        Some(_) => group.initial_delay_until = None,
        None => {}
    }
    let all_joined = group.members.iter().all(|m| m.awaiting_join.is_some()) && group.pending.is_empty();
    let timed_out = group.rebalance_deadline.is_some_and(|t| now >= t);
    if !all_joined && !timed_out {
        return;
    }
    let stragglers: Vec<String> =
        group.members.iter().filter(|m| m.awaiting_join.is_none()).map(|m| m.id.clone()).collect();
    for id in stragglers {
        group.members.retain(|m| m.id != id);
        if group.is_leader(&id) {
            group.leader = None;
        }
    }
    group.pending.clear();
    group.generation += 1;
    group.rebalances += 1;
    group.initial_delay_until = None;
    group.initial_delay_started = None;
    group.rebalance_deadline = None;
    if group.members.is_empty() {
        group.state = GroupState::Empty;
        group.empty_since_ms = now;
        group.protocol_name = None;
        group.leader = None;
        out.push(Action::Persist(snapshot(group)));
        return;
    }
    group.protocol_name = group.select_protocol();
    if group.leader.as_deref().is_none_or(|l| group.member(l).is_none()) {
        group.leader = group.members.first().map(|m| m.id.clone());
    }
    group.state = GroupState::CompletingRebalance;
    for m in &mut group.members {
        m.assignment = Bytes::new();
        m.last_seen_ms = now;
    }
    let waiting: Vec<(ReplyId, String)> =
        group.members.iter_mut().filter_map(|m| m.awaiting_join.take().map(|r| (r, m.id.clone()))).collect();
    for (r, id) in waiting {
        out.push(Action::Reply(r, Reply::Join(Ok(join_result(group, &id)))));
    }
    // Persisted once the leader's SyncGroup brings the assignments, as Kafka does.
}

fn join_result(group: &Group, member_id: &str) -> JoinResult {
    let protocol = group.protocol_name.clone();
    let leader = group.leader.clone().unwrap_or_default();
    let members = if leader == member_id {
        let name = protocol.as_deref().unwrap_or_default();
        group
            .members
            .iter()
            .map(|m| JoinMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata_for(name),
            })
            .collect()
    } else {
        Vec::new()
    };
    JoinResult {
        generation_id: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol_name: protocol,
        leader,
        member_id: member_id.to_string(),
        members,
    }
}

fn sync_result(group: &Group, assignment: Bytes) -> SyncResult {
    SyncResult { protocol_type: group.protocol_type.clone(), protocol_name: group.protocol_name.clone(), assignment }
}

fn snapshot(group: &Group) -> GroupSnapshot {
    GroupSnapshot {
        group_id: group.id.clone(),
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        generation_id: group.generation,
        protocol_name: group.protocol_name.clone(),
        leader: group.leader.clone(),
        members: group.members.iter().map(Member::snapshot).collect(),
    }
}

#[cfg(test)]
mod tests;
