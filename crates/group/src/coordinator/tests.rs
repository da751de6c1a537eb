use super::*;

const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;

fn protocols(names: &[&str]) -> Vec<Protocol> {
    names.iter().map(|n| Protocol { name: n.to_string(), metadata: Bytes::from(format!("meta-{n}")) }).collect()
}

fn join_req(member: &str, names: &[&str]) -> JoinRequest {
    JoinRequest {
        group_id: "g".into(),
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: "consumer".into(),
        protocols: protocols(names),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        require_known_member_id: true,
    }
}

fn coordinator(delay: i64) -> Coordinator {
    Coordinator::new(Config { initial_rebalance_delay_ms: delay, ..Config::default() })
}

/// The join answers among `actions`, by reply id.
fn joins(actions: &[Action]) -> Vec<(ReplyId, JoinOutcome)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply(r, Reply::Join(j)) => Some((*r, j.clone())),
            _ => None,
        })
        .collect()
}

fn syncs(actions: &[Action]) -> Vec<(ReplyId, Result<SyncResult, GroupError>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply(r, Reply::Sync(s)) => Some((*r, s.clone())),
            _ => None,
        })
        .collect()
}

/// A new member's two-step join (MEMBER_ID_REQUIRED, then the real join): its id and the actions.
fn join_new(c: &mut Coordinator, reply: ReplyId, names: &[&str], now: i64) -> (String, Vec<Action>) {
    let first = c.join(reply, join_req("", names), now);
    let [(_, Err((GroupError::MemberIdRequired, id)))] = &joins(&first)[..] else { panic!("{first:?}") };
    (id.clone(), c.join(reply, join_req(id, names), now))
}

fn heartbeat(c: &mut Coordinator, member: &str, generation: i32, now: i64) -> Result<(), GroupError> {
    c.heartbeat(
        &HeartbeatRequest {
            group_id: "g".into(),
            generation_id: generation,
            member_id: member.into(),
            group_instance_id: None,
        },
        now,
    )
}

fn sync_req(member: &str, generation: i32, assignments: Vec<(String, Bytes)>) -> SyncRequest {
    SyncRequest {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: None,
        assignments,
    }
}

/// Two members in a Stable generation 2, m1 leading.
fn stable_pair(c: &mut Coordinator) -> (String, String) {
    let (m1, a) = join_new(c, 1, &["range"], 0);
    assert_eq!(joins(&a)[0].1.as_ref().unwrap().generation_id, 1);
    let (m2, a) = join_new(c, 2, &["range"], 10);
    assert!(joins(&a).is_empty(), "m2 waits for m1 to rejoin");
    assert_eq!(heartbeat(c, &m1, 1, 20), Err(GroupError::RebalanceInProgress));
    let a = c.join(3, join_req(&m1, &["range"]), 30);
    let done = joins(&a);
    assert_eq!(done.len(), 2);
    for (_, j) in &done {
        let j = j.as_ref().unwrap();
        assert_eq!((j.generation_id, j.leader.as_str(), j.protocol_name.as_deref()), (2, m1.as_str(), Some("range")));
    }
    let leader_view = done.iter().find(|(r, _)| *r == 3).unwrap().1.as_ref().unwrap();
    assert_eq!(leader_view.members.len(), 2, "the leader sees every member");
    assert!(done.iter().find(|(r, _)| *r == 2).unwrap().1.as_ref().unwrap().members.is_empty());

    assert!(c.sync(4, sync_req(&m2, 2, vec![]), 40).is_empty(), "a follower waits for the leader");
    let assignments = vec![(m1.clone(), Bytes::from_static(b"p0")), (m2.clone(), Bytes::from_static(b"p1"))];
    let a = c.sync(5, sync_req(&m1, 2, assignments), 50);
    let mut got = syncs(&a);
    got.sort_by_key(|(r, _)| *r);
    assert_eq!(
        got.iter().map(|(r, s)| (*r, s.as_ref().unwrap().assignment.clone())).collect::<Vec<_>>(),
        vec![(4, Bytes::from_static(b"p1")), (5, Bytes::from_static(b"p0"))]
    );
    assert!(a.iter().any(|x| matches!(x, Action::Persist(s) if s.generation_id == 2 && s.members.len() == 2)));
    assert_eq!(c.state("g"), Some(GroupState::Stable));
    (m1, m2)
}

#[test]
fn members_join_sync_and_share_a_generation() {
    let mut c = coordinator(0);
    let (m1, m2) = stable_pair(&mut c);
    assert_eq!(heartbeat(&mut c, &m1, 2, 60), Ok(()));
    assert_eq!(heartbeat(&mut c, &m2, 1, 60), Err(GroupError::IllegalGeneration { got: 1, current: 2 }));
    assert!(matches!(heartbeat(&mut c, "stranger", 2, 60), Err(GroupError::UnknownMemberId(_))));
    // A follower rejoining unchanged while Stable gets the current generation back, no rebalance.
    let a = c.join(6, join_req(&m2, &["range"]), 70);
    assert_eq!(joins(&a)[0].1.as_ref().unwrap().generation_id, 2);
    assert_eq!(c.state("g"), Some(GroupState::Stable));
    let a = c.sync(7, sync_req(&m2, 2, vec![]), 80);
    assert_eq!(syncs(&a)[0].1.as_ref().unwrap().assignment, Bytes::from_static(b"p1"));
}

#[test]
fn a_silent_member_is_removed_after_its_session_timeout() {
    let mut c = coordinator(0);
    let (m1, m2) = stable_pair(&mut c);
    // m2 was last seen at its SyncGroup (40), m1 at the leader's (50).
    assert_eq!(c.next_deadline(), Some(40 + i64::from(SESSION)));
    assert_eq!(heartbeat(&mut c, &m1, 2, 9_000), Ok(()));
    assert!(c.tick(40 + i64::from(SESSION) - 1).is_empty());
    c.tick(40 + i64::from(SESSION));
    assert_eq!(c.state("g"), Some(GroupState::PreparingRebalance), "m2 timed out");
    assert!(c.group("g").unwrap().member(&m2).is_none());
    let a = c.join(8, join_req(&m1, &["range"]), 10_100);
    let j = joins(&a)[0].1.clone().unwrap();
    assert_eq!((j.generation_id, j.members.len()), (3, 1));
}

#[test]
fn the_rebalance_timeout_drops_members_that_do_not_rejoin() {
    let mut c = coordinator(0);
    let (m1, m2) = stable_pair(&mut c);
    let (m3, a) = join_new(&mut c, 9, &["range"], 100);
    assert!(joins(&a).is_empty());
    c.join(10, join_req(&m1, &["range"]), 200);
    // m2 keeps heartbeating (and is told to rejoin) but never does.
    for t in (5_000..=30_000).step_by(5_000) {
        assert_eq!(heartbeat(&mut c, &m2, 2, t), Err(GroupError::RebalanceInProgress));
        assert!(joins(&c.tick(t)).is_empty());
    }
    assert_eq!(c.next_deadline(), Some(100 + i64::from(REBALANCE)));
    let a = c.tick(100 + i64::from(REBALANCE));
    let done = joins(&a);
    assert_eq!(done.len(), 2);
    let j = done[0].1.as_ref().unwrap();
    assert_eq!(j.generation_id, 3);
    let group = c.group("g").unwrap();
    assert_eq!(group.members.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), vec![m1, m3]);
}

#[test]
fn the_initial_delay_gathers_members_before_the_first_generation() {
    let mut c = coordinator(100);
    let (_m1, a) = join_new(&mut c, 1, &["range"], 0);
    assert!(joins(&a).is_empty(), "waits for more members");
    assert_eq!(c.next_deadline(), Some(100));
    assert!(c.tick(99).is_empty());
    let (_m2, a) = join_new(&mut c, 2, &["range"], 50);
    assert!(joins(&a).is_empty());
    assert!(joins(&c.tick(100)).is_empty(), "a new member extends the delay");
    let done = joins(&c.tick(150));
    assert_eq!(done.len(), 2);
    assert!(done.iter().all(|(_, j)| j.as_ref().unwrap().generation_id == 1));
}

#[test]
fn the_protocol_most_members_prefer_wins_and_strangers_are_refused() {
    let mut c = coordinator(0);
    let (m1, _) = join_new(&mut c, 1, &["range", "roundrobin"], 0);
    let (m2, _) = join_new(&mut c, 2, &["roundrobin", "range"], 1);
    let (_m3, _) = join_new(&mut c, 3, &["roundrobin", "range"], 2);
    let a = c.join(4, join_req(&m1, &["range", "roundrobin"]), 3);
    c.join(5, join_req(&m2, &["roundrobin", "range"]), 3);
    let _ = a;
    let group = c.group("g").unwrap();
    assert_eq!(group.protocol_name.as_deref(), Some("roundrobin"));
    let refused = c.join(6, join_req("", &["sticky"]), 4);
    assert!(matches!(&joins(&refused)[0].1, Err((GroupError::InconsistentGroupProtocol, _))));
    let mut other_type = join_req("", &["range"]);
    other_type.protocol_type = "connect".into();
    assert!(matches!(&joins(&c.join(7, other_type, 4))[0].1, Err((GroupError::InconsistentGroupProtocol, _))));
}

#[test]
fn a_rebalance_tells_waiting_followers_to_rejoin() {
    let mut c = coordinator(0);
    let (m1, _) = join_new(&mut c, 1, &["range"], 0);
    let (m2, _) = join_new(&mut c, 2, &["range"], 1);
    c.join(3, join_req(&m1, &["range"]), 2);
    assert_eq!(c.state("g"), Some(GroupState::CompletingRebalance));
    assert!(c.sync(4, sync_req(&m2, 2, vec![]), 3).is_empty());
    let (_m3, a) = join_new(&mut c, 5, &["range"], 4);
    assert_eq!(syncs(&a), vec![(4, Err(GroupError::RebalanceInProgress))]);
    assert_eq!(c.sync(6, sync_req(&m1, 2, vec![]), 5).len(), 1, "the leader too is told to rejoin");
    assert_eq!(syncs(&c.sync(6, sync_req(&m1, 2, vec![]), 5)), vec![(6, Err(GroupError::RebalanceInProgress))]);
}

#[test]
fn static_members_keep_their_place_and_fence_their_predecessor() {
    let mut c = coordinator(0);
    let mut req = join_req("", &["range"]);
    req.group_instance_id = Some("host-1".into());
    let first = joins(&c.join(1, req.clone(), 0))[0].1.clone().unwrap();
    assert_eq!(first.generation_id, 1, "static members need no MEMBER_ID_REQUIRED round");
    c.sync(2, sync_req(&first.member_id, 1, vec![(first.member_id.clone(), Bytes::from_static(b"a"))]), 1);
    // The same instance restarts and joins without its member id.
    let again = c.join(3, req, 2);
    let again_id = match &joins(&again)[..] {
        [(_, Ok(j))] => j.member_id.clone(),
        [] => c.group("g").unwrap().members[0].id.clone(),
        other => panic!("{other:?}"),
    };
    assert_ne!(again_id, first.member_id);
    let fenced = c.heartbeat(
        &HeartbeatRequest {
            group_id: "g".into(),
            generation_id: 1,
            member_id: first.member_id.clone(),
            group_instance_id: Some("host-1".into()),
        },
        3,
    );
    assert_eq!(fenced, Err(GroupError::FencedInstanceId("host-1".into())));
    assert_eq!(c.group("g").unwrap().members.len(), 1);
}

#[test]
fn leaving_rebalances_and_an_empty_group_can_be_deleted() {
    let mut c = coordinator(0);
    let (m1, m2) = stable_pair(&mut c);
    assert!(matches!(c.delete("g"), Err(GroupError::NonEmptyGroup(_))));
    let (reply, _) = c.leave("g", vec![LeavingMember { member_id: m2.clone(), group_instance_id: None }], 100);
    assert!(matches!(reply, Reply::Leave(Ok(ref r)) if r[0].1.is_ok()));
    assert_eq!(c.state("g"), Some(GroupState::PreparingRebalance));
    let (reply, _) = c.leave("g", vec![LeavingMember { member_id: "nobody".into(), group_instance_id: None }], 100);
    assert!(matches!(reply, Reply::Leave(Ok(ref r)) if matches!(r[0].1, Err(GroupError::UnknownMemberId(_)))));
    let (_, a) = c.leave("g", vec![LeavingMember { member_id: m1, group_instance_id: None }], 110);
    assert_eq!(c.state("g"), Some(GroupState::Empty));
    assert!(a.iter().any(|x| matches!(x, Action::Persist(s) if s.members.is_empty())));
    assert_eq!(c.delete("g"), Ok(vec![Action::Forget("g".into())]));
    assert!(matches!(c.delete("g"), Err(GroupError::GroupIdNotFound(_))));
    assert_eq!(c.describe("g").state, GroupState::Dead);
}

#[test]
fn commits_follow_kafkas_rules() {
    let mut c = coordinator(0);
    let admin = |group: &str| CommitRequest {
        group_id: group.into(),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
    };
    assert_eq!(c.check_commit(&admin("fresh"), 0), Ok(()), "an admin commit creates an empty group");
    assert_eq!(c.state("fresh"), Some(GroupState::Empty));
    let (m1, m2) = stable_pair(&mut c);
    assert!(
        matches!(c.check_commit(&admin("g"), 60), Err(GroupError::UnknownMemberId(_))),
        "not while members are in it"
    );
    let member = |generation| CommitRequest {
        group_id: "g".into(),
        generation_id: generation,
        member_id: m1.clone(),
        group_instance_id: None,
    };
    assert_eq!(c.check_commit(&member(2), 60), Ok(()));
    assert!(matches!(c.check_commit(&member(1), 60), Err(GroupError::IllegalGeneration { .. })));
    join_new(&mut c, 20, &["range"], 70);
    c.join(21, join_req(&m1, &["range"]), 70);
    c.join(22, join_req(&m2, &["range"]), 70);
    assert_eq!(c.state("g"), Some(GroupState::CompletingRebalance));
    assert_eq!(c.check_commit(&member(3), 80), Err(GroupError::RebalanceInProgress));
}

#[test]
fn transactional_commits_follow_kip_447() {
    let mut c = coordinator(0);
    let commit = |group: &str, generation, member: &str| CommitRequest {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
    };
    assert_eq!(c.check_txn_commit(&commit("", -1, ""), 0), Err(GroupError::InvalidGroupId));
    assert_eq!(c.check_txn_commit(&commit("fresh", -1, ""), 0), Ok(()), "an old producer's commit creates the group");
    assert_eq!(c.state("fresh"), Some(GroupState::Empty));
    assert!(matches!(c.check_txn_commit(&commit("unknown", 3, "m"), 0), Err(GroupError::IllegalGeneration { .. })));

    let (m1, m2) = stable_pair(&mut c);
    assert_eq!(c.check_txn_commit(&commit("g", -1, ""), 60), Ok(()), "without a member, whatever the members");
    assert_eq!(c.check_txn_commit(&commit("g", 2, &m1), 60), Ok(()));
    assert!(matches!(c.check_txn_commit(&commit("g", 1, &m1), 60), Err(GroupError::IllegalGeneration { .. })));
    assert!(matches!(c.check_txn_commit(&commit("g", 2, "zombie"), 60), Err(GroupError::UnknownMemberId(_))));

    // Unlike OffsetCommit, a rebalance in progress does not stop the current generation's commit.
    join_new(&mut c, 20, &["range"], 70);
    c.join(21, join_req(&m1, &["range"]), 70);
    c.join(22, join_req(&m2, &["range"]), 70);
    assert_eq!(c.state("g"), Some(GroupState::CompletingRebalance));
    assert_eq!(c.check_txn_commit(&commit("g", 3, &m1), 80), Ok(()));
    assert!(matches!(c.check_txn_commit(&commit("g", 2, &m1), 80), Err(GroupError::IllegalGeneration { .. })));
}

#[test]
fn a_restored_group_is_stable_with_its_members() {
    let mut c = coordinator(0);
    let (m1, m2) = stable_pair(&mut c);
    let snapshot = snapshot(c.group("g").unwrap());
    let mut restarted = coordinator(0);
    restarted.restore(snapshot, 1_000_000);
    assert_eq!(restarted.state("g"), Some(GroupState::Stable));
    assert_eq!(heartbeat(&mut restarted, &m1, 2, 1_000_001), Ok(()));
    let described = restarted.describe("g");
    assert_eq!(described.members.iter().map(|m| m.member_id.clone()).collect::<Vec<_>>(), vec![m1, m2]);
    assert_eq!(
        (described.protocol.as_str(), described.members[1].assignment.clone()),
        ("range", Bytes::from_static(b"p1"))
    );
}

#[test]
fn bad_joins_are_refused() {
    let mut c = coordinator(0);
    let mut req = join_req("", &["range"]);
    req.group_id = String::new();
    assert!(matches!(&joins(&c.join(1, req, 0))[0].1, Err((GroupError::InvalidGroupId, _))));
    let mut req = join_req("", &["range"]);
    req.session_timeout_ms = 10;
    assert!(matches!(&joins(&c.join(2, req, 0))[0].1, Err((GroupError::InvalidSessionTimeout { .. }, _))));
    assert!(matches!(
        &joins(&c.join(3, join_req("made-up", &["range"]), 0))[0].1,
        Err((GroupError::UnknownMemberId(_), _))
    ));
    // An id handed out with MEMBER_ID_REQUIRED lapses if unused.
    let first = c.join(4, join_req("", &["range"]), 0);
    let [(_, Err((GroupError::MemberIdRequired, id)))] = &joins(&first)[..] else { panic!() };
    c.tick(i64::from(SESSION));
    assert!(matches!(
        &joins(&c.join(5, join_req(id, &["range"]), i64::from(SESSION)))[0].1,
        Err((GroupError::UnknownMemberId(_), _))
    ));
}

#[test]
fn after_the_initial_delay_the_group_waits_only_for_its_members() {
    let mut c = coordinator(100);
    let (_m1, _) = join_new(&mut c, 1, &["range"], 0);
    // A second member got its id but has not rejoined with it yet when the delay ends.
    let pending = c.join(2, join_req("", &["range"]), 10);
    assert!(matches!(&joins(&pending)[0].1, Err((GroupError::MemberIdRequired, _))));
    assert!(joins(&c.tick(100)).is_empty());
    let next = c.next_deadline().unwrap();
    assert!(next > 100, "no deadline left in the past, or the timer would spin: {next}");
}

#[test]
fn a_repeated_sync_answers_the_earlier_one() {
    let mut c = coordinator(0);
    let (m1, _) = join_new(&mut c, 1, &["range"], 0);
    let (m2, _) = join_new(&mut c, 2, &["range"], 1);
    c.join(3, join_req(&m1, &["range"]), 2);
    assert!(c.sync(4, sync_req(&m2, 2, vec![]), 3).is_empty());
    // The follower timed out client-side and syncs again: the first request is not left hanging.
    assert_eq!(syncs(&c.sync(5, sync_req(&m2, 2, vec![]), 4)), vec![(4, Err(GroupError::RebalanceInProgress))]);
    let a = c.sync(6, sync_req(&m1, 2, vec![(m2.clone(), Bytes::from_static(b"x"))]), 5);
    assert_eq!(
        syncs(&a).iter().map(|(r, _)| *r).collect::<Vec<_>>().len(),
        2,
        "the leader and the second sync are answered"
    );
}

#[test]
fn a_generation_that_never_synced_is_restored_empty_and_empty_time_is_kept() {
    let mut c = coordinator(0);
    let (m1, _) = join_new(&mut c, 1, &["range"], 0);
    c.join(2, join_req(&m1, &["range"]), 0);
    assert_eq!(c.state("g"), Some(GroupState::CompletingRebalance));
    let unsynced = snapshot(c.group("g").unwrap());
    let mut restarted = coordinator(0);
    restarted.restore(unsynced, 500);
    assert_eq!(restarted.state("g"), Some(GroupState::Empty), "no assignments to hand out");
    assert_eq!(restarted.empty_since("g"), Some(500));
    let (_, a) = c.leave("g", vec![LeavingMember { member_id: m1, group_instance_id: None }], 900);
    assert!(a.iter().any(|x| matches!(x, Action::Persist(s) if s.members.is_empty())));
    assert_eq!(c.empty_since("g"), Some(900));
}
