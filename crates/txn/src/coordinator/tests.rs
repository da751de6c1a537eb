use super::*;

const CONFIG: Config = Config { max_timeout_ms: 900_000, id_expiration_ms: 604_800_000 };

fn written(decision: InitDecision) -> Transit {
    match decision {
        InitDecision::Write(t) => t,
        InitDecision::Fence(t) => panic!("fenced: {t:?}"),
    }
}

/// A new id, initialised and applied: (coordinator, producer id 1000 at epoch 0).
fn initialised(id: &str) -> TxnCoordinator {
    let mut c = TxnCoordinator::new(CONFIG);
    assert!(c.needs_producer_id(id));
    assert_eq!(c.init_producer_id(id, 60_000, None, None, 0), Err(TxnError::NeedProducerId));
    let t = written(c.init_producer_id(id, 60_000, None, Some(1000), 0).unwrap());
    assert_eq!((t.target.producer_id, t.target.producer_epoch, t.target.state), (1000, 0, TxnState::Empty));
    assert_eq!(c.apply(&t, 0), None);
    c
}

fn parts(list: &[(&str, i32)]) -> Vec<(String, i32)> {
    list.iter().map(|(t, p)| (t.to_string(), *p)).collect()
}

/// Adds partitions and persists the change.
fn add(c: &mut TxnCoordinator, id: &str, producer: (i64, i16), list: &[(&str, i32)], now: i64) {
    let t = c.add_partitions(id, producer, &parts(list), now).unwrap().expect("new partitions");
    assert_eq!(c.apply(&t, now), None);
}

#[test]
fn a_transaction_goes_from_ongoing_through_prepare_to_complete() {
    let mut c = initialised("t");
    add(&mut c, "t", (1000, 0), &[("a", 0), ("a", 1)], 5);
    assert_eq!(c.add_partitions("t", (1000, 0), &parts(&[("a", 1)]), 6), Ok(None), "already in");
    add(&mut c, "t", (1000, 0), &[("__consumer_offsets", 12)], 7);
    let (meta, _) = c.describe("t").unwrap();
    assert_eq!((meta.state, meta.start_ms, meta.partitions.len()), (TxnState::Ongoing, 5, 3));

    let prepare = c.end_txn("t", (1000, 0), true, 10).unwrap().unwrap();
    assert_eq!(prepare.target.state, TxnState::PrepareCommit);
    assert!(matches!(
        c.add_partitions("t", (1000, 0), &parts(&[("b", 0)]), 11),
        Err(TxnError::ConcurrentTransactions(_))
    ));
    let markers = c.apply(&prepare, 12).expect("a prepared transaction has markers to write");
    assert!(markers.commit);
    assert_eq!(markers.partitions, parts(&[("__consumer_offsets", 12), ("a", 0), ("a", 1)]));
    assert_eq!((markers.producer_id, markers.producer_epoch), (1000, 0));
    // Until the markers are written and the Complete state persisted, everything waits.
    assert!(matches!(c.end_txn("t", (1000, 0), true, 13), Err(TxnError::ConcurrentTransactions(_))));
    assert!(matches!(c.init_producer_id("t", 60_000, None, None, 13), Err(TxnError::ConcurrentTransactions(_))));
    assert_eq!(markers.complete.target.state, TxnState::CompleteCommit);
    assert!(markers.complete.target.partitions.is_empty());
    assert_eq!(c.apply(&markers.complete, 20), None);
    assert_eq!(c.end_txn("t", (1000, 0), true, 21), Ok(None), "a retried commit is answered at once");
    assert!(matches!(c.end_txn("t", (1000, 0), false, 21), Err(TxnError::InvalidTxnState { .. })));
    // The next transaction starts from CompleteCommit.
    add(&mut c, "t", (1000, 0), &[("b", 0)], 30);
    assert_eq!(c.describe("t").unwrap().0.start_ms, 30);
}

#[test]
fn requests_of_other_producers_or_epochs_are_refused_as_kafka_refuses_them() {
    let mut c = initialised("t");
    assert!(matches!(
        c.add_partitions("u", (1000, 0), &parts(&[("a", 0)]), 1),
        Err(TxnError::InvalidProducerIdMapping(_))
    ));
    assert!(matches!(
        c.add_partitions("t", (7, 0), &parts(&[("a", 0)]), 1),
        Err(TxnError::InvalidProducerIdMapping(_))
    ));
    assert!(matches!(c.add_partitions("t", (1000, 3), &parts(&[("a", 0)]), 1), Err(TxnError::ProducerFenced { .. })));
    assert!(matches!(c.end_txn("t", (1000, 0), true, 1), Err(TxnError::InvalidTxnState { .. })), "nothing open");
    assert!(matches!(c.init_producer_id("t", 0, None, None, 1), Err(TxnError::InvalidTransactionTimeout { .. })));
    assert!(matches!(c.init_producer_id("t", 900_001, None, None, 1), Err(TxnError::InvalidTransactionTimeout { .. })));
    assert!(matches!(c.init_producer_id("", 1_000, None, None, 1), Err(TxnError::InvalidRequest(_))));
    // A write that did not persist leaves the id as it was.
    let t = c.add_partitions("t", (1000, 0), &parts(&[("a", 0)]), 2).unwrap().unwrap();
    c.abandon(&t);
    assert_eq!(c.describe("t").unwrap().0.state, TxnState::Empty);
}

#[test]
fn a_new_producer_fences_the_open_transaction_of_the_old_one() {
    let mut c = initialised("t");
    add(&mut c, "t", (1000, 0), &[("a", 0)], 5);
    // The new instance: the transaction is aborted with epoch 1, and it is told to retry.
    let InitDecision::Fence(fence) = c.init_producer_id("t", 60_000, None, None, 10).unwrap() else {
        panic!("not fenced")
    };
    assert!(fence.fence);
    assert_eq!((fence.target.state, fence.target.producer_epoch), (TxnState::PrepareAbort, 1));
    assert!(
        matches!(c.end_txn("t", (1000, 0), true, 11), Err(TxnError::ProducerFenced { .. })),
        "the old producer is fenced at once"
    );
    let markers = c.apply(&fence, 12).unwrap();
    assert!(!markers.commit);
    assert_eq!((markers.producer_epoch, markers.partitions.clone()), (1, parts(&[("a", 0)])));
    assert!(matches!(c.init_producer_id("t", 60_000, None, None, 13), Err(TxnError::ConcurrentTransactions(_))));
    assert_eq!(c.apply(&markers.complete, 14), None);
    let again = written(c.init_producer_id("t", 60_000, None, None, 15).unwrap());
    assert_eq!((again.target.producer_id, again.target.producer_epoch), (1000, 2), "old + 2, as Kafka");
}

#[test]
fn epoch_bumps_follow_kip_360() {
    let mut c = initialised("t");
    // The producer knows its id and epoch: bumped.
    let t = written(c.init_producer_id("t", 60_000, Some((1000, 0)), None, 1).unwrap());
    assert_eq!(t.target.producer_epoch, 1);
    c.apply(&t, 1);
    // Its answer was lost: the retry with the old epoch gets the same bumped epoch.
    let t = written(c.init_producer_id("t", 60_000, Some((1000, 0)), None, 2).unwrap());
    assert_eq!(t.target.producer_epoch, 1);
    c.apply(&t, 2);
    assert!(matches!(c.init_producer_id("t", 60_000, Some((1000, 9)), None, 3), Err(TxnError::ProducerFenced { .. })));
    assert!(matches!(c.init_producer_id("t", 60_000, Some((55, 1)), None, 3), Err(TxnError::ProducerFenced { .. })));
}

#[test]
fn an_exhausted_epoch_rotates_the_producer_id() {
    let mut c = TxnCoordinator::new(CONFIG);
    c.replay(
        &records::key("t"),
        Some(&records::value(&TxnMetadata {
            producer_id: 1000,
            producer_epoch: EXHAUSTED_EPOCH,
            timeout_ms: 1_000,
            state: TxnState::CompleteCommit,
            partitions: BTreeSet::new(),
            start_ms: 0,
            last_update_ms: 0,
        })),
    );
    assert!(c.needs_producer_id("t"));
    assert_eq!(c.init_producer_id("t", 1_000, None, None, 1), Err(TxnError::NeedProducerId));
    let t = written(c.init_producer_id("t", 1_000, None, Some(2000), 1).unwrap());
    assert_eq!((t.target.producer_id, t.target.producer_epoch), (2000, 0));
}

#[test]
fn timed_out_transactions_are_fenced_and_aborted() {
    let mut c = initialised("t");
    add(&mut c, "t", (1000, 0), &[("a", 0)], 100);
    assert!(c.timed_out(60_100).is_empty(), "exactly at the timeout: not yet");
    assert_eq!(c.next_deadline(), Some(60_101));
    let late = c.timed_out(60_101);
    assert_eq!(late.len(), 1);
    assert_eq!((late[0].target.state, late[0].target.producer_epoch), (TxnState::PrepareAbort, 1));
    assert!(c.timed_out(70_000).is_empty(), "pending: not fenced twice");
    // The abort did not persist: the next fence keeps the bumped epoch.
    c.abandon(&late[0]);
    assert_eq!(c.timed_out(70_000)[0].target.producer_epoch, 1);
}

#[test]
fn a_takeover_finishes_what_the_previous_coordinator_prepared() {
    let mut c = initialised("t");
    add(&mut c, "t", (1000, 0), &[("a", 0)], 1);
    let prepare = c.end_txn("t", (1000, 0), false, 2).unwrap().unwrap();
    // Everything persisted so far, replayed by the next coordinator.
    let mut next = TxnCoordinator::new(CONFIG);
    let (key, value) = prepare.record();
    next.replay(&key, value.as_deref());
    let markers = next.loaded(3);
    assert_eq!(markers.len(), 1);
    assert_eq!((markers[0].commit, markers[0].partitions.clone()), (false, parts(&[("a", 0)])));
    assert!(matches!(next.end_txn("t", (1000, 0), false, 4), Err(TxnError::ConcurrentTransactions(_))));
    next.apply(&markers[0].complete, 5);
    assert_eq!(next.describe("t").unwrap().0.state, TxnState::CompleteAbort);
}

#[test]
fn idle_ids_expire_into_tombstones() {
    let mut c = initialised("t");
    assert!(c.expired(604_799_999).is_empty());
    let dead = c.expired(604_800_000);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].record().1, None, "a tombstone");
    c.apply(&dead[0], 604_800_000);
    assert!(c.describe("t").is_none());
    let (key, _) = dead[0].record();
    let mut replayed = initialised("t");
    replayed.replay(&key, None);
    assert!(replayed.describe("t").is_none());
}
