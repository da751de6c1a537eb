//! Partition replication under faults, on three real `fjord` processes: topics with three
//! replicas and `min.insync.replicas=2`, idempotent acks=all producers (librdkafka and kafkajs)
//! streaming while brokers are killed, stopped, paused and bounced. (kafkajs is not paused: it
//! keeps asking a hung broker for metadata and never moves on, whatever the broker.) Each test checks that every
//! acknowledged record is stored exactly once where it was acknowledged, that nothing is stored
//! that was not sent, and that consumption resumes; the figures (records acknowledged and
//! stored, the longest pause of the producer and of a consumer group) go to stderr.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fjord_log::batch::BatchHeader;
use fjord_log::testing::{Producer, Record, build, simple};
use fjord_tests::RawClient;
use fjord_tests::cluster::Cluster;
use fjord_tests::http::Metrics;
use fjord_tests::raw;
use fjord_tests::stream::{AckedStream, LineStream, longest_gap, verify_at};
use fjord_tests::{node, python, wait_for};
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{ApiKey, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kafka_protocol::protocol::Decodable;

/// How long a restarted broker may take to catch up and rejoin every ISR.
const REJOIN_LIMIT: Duration = Duration::from_secs(60);

/// A three-node cluster with `topic` created with `partitions` partitions, three replicas and
/// `min.insync.replicas=2`, every replica in sync.
fn cluster_with(topic: &str, partitions: i32, min_insync: &str, extra: &[&str]) -> Result<Cluster> {
    let cluster = Cluster::start(3, extra)?;
    let mut client = RawClient::connect(&cluster.node(1).addr)?;
    let created = wait_for(Duration::from_secs(30), || {
        let code = raw::create_topic_with(&mut client, topic, (partitions, 3), &[("min.insync.replicas", min_insync)])?;
        Ok(matches!(code, 0 | 36).then_some(()))
    });
    created.context("create the replicated topic")?;
    cluster.wait_in_sync(topic, partitions as usize, REJOIN_LIMIT)?;
    Ok(cluster)
}

/// The acknowledged values among `ack <partition> <offset> <value>` lines.
fn acked_values(acked: &[String]) -> HashSet<String> {
    acked.iter().filter_map(|l| l.rsplit(' ').next()).map(str::to_string).collect()
}

#[test]
fn librdkafka_stream_survives_every_broker_killed_and_bounced_in_turn() -> Result<()> {
    let mut cluster = cluster_with("stream", 3, "2", &[])?;
    let bootstrap = cluster.bootstrap();
    let mut producer = AckedStream::spawn(python("acked_stream.py").args([
        "--bootstrap",
        &bootstrap,
        "--topic",
        "stream",
        "--partitions",
        "3",
        "--request-timeout-ms",
        "5000",
    ]))?;
    let mut consumer =
        LineStream::spawn(python("follow.py").args(["--bootstrap", &bootstrap, "--topic", "stream", "--group", "g"]))?;
    producer.wait_for_acks(500)?;
    consumer.wait_for_lines(100)?;
    let faults_began = Instant::now();

    // The controller first: it dies with the partitions it leads and the quorum loses its leader.
    let controller = cluster.controller()?;
    let mut order = vec![controller];
    order.extend((1..=3).filter(|id| *id != controller));
    let mut failovers = Vec::new();
    for &id in &order {
        let killed = Instant::now();
        cluster.node_mut(id).kill()?;
        producer.wait_for_more(300)?; // acknowledged by the two that are left
        failovers.push(producer.longest_gap(killed));
        cluster.node_mut(id).restart()?;
        cluster.wait_in_sync("stream", 3, REJOIN_LIMIT)?;
        producer.wait_for_more(200)?;
    }
    for id in 1..=3 {
        let status = cluster.node_mut(id).terminate()?;
        assert!(status.success(), "node {id} stopped cleanly: {status}");
        producer.wait_for_more(200)?;
        cluster.node_mut(id).restart()?;
        cluster.wait_in_sync("stream", 3, REJOIN_LIMIT)?;
        producer.wait_for_more(200)?;
    }
    // A leader that stops answering (SIGSTOP) is fenced and replaced; when it wakes up it is a
    // follower, and whatever it appended meanwhile is cut back to the new leader's log.
    let paused = cluster.leader_of("stream", 0, REJOIN_LIMIT)?;
    let stopped = Instant::now();
    cluster.signal(paused, "STOP")?;
    producer.wait_for_more(300)?;
    failovers.push(producer.longest_gap(stopped));
    cluster.signal(paused, "CONT")?;
    cluster.wait_in_sync("stream", 3, REJOIN_LIMIT)?;
    producer.wait_for_more(200)?;
    let producer_pause = producer.longest_gap(faults_began);
    let acked = producer.stop()?;

    // Preferred leaders come back: each partition is led by its first replica again.
    let balanced = wait_for(Duration::from_secs(30), || {
        let states = cluster.partitions(1, "stream")?;
        Ok((states.len() == 3 && states.iter().all(|p| p.replicas.first() == Some(&p.leader))).then_some(states))
    });
    assert!(balanced.is_ok(), "leadership back on the preferred replicas: {:?}", cluster.partitions(1, "stream")?);

    let bootstrap = cluster.bootstrap();
    let stored = verify_at(&bootstrap, "stream", 3, &acked)?;
    // The group consumer (its coordinator moved with __consumer_offsets) saw every one.
    let wanted = acked_values(&acked);
    let mut seen: HashSet<String> = HashSet::new();
    let caught_up = wait_for(Duration::from_secs(60), || {
        consumer.drain();
        seen.extend(consumer.received.iter().filter_map(|(_, l)| l.rsplit(' ').next()).map(str::to_string));
        Ok(wanted.is_subset(&seen).then_some(()))
    });
    let consumer_pause = longest_gap(&consumer.received, faults_began);
    let lines = consumer.stop()?;
    assert!(caught_up.is_ok(), "the group consumer missed {} acknowledged records", wanted.difference(&seen).count());
    eprintln!(
        "librdkafka: acked {} stored {stored} lost 0 consumed {} (lines {}); producer paused at most {producer_pause:?}, \
         after each kill and the pause {failovers:?}; consumer paused at most {consumer_pause:?}",
        acked.len(),
        seen.len(),
        lines.len()
    );
    Ok(())
}

#[test]
fn kafkajs_stream_survives_every_broker_killed_in_turn() -> Result<()> {
    let mut cluster = cluster_with("js", 1, "2", &[])?;
    let mut producer = AckedStream::spawn(node("acked_stream.js").args([&cluster.bootstrap(), "js", "1"]))?;
    producer.wait_for_acks(200)?;
    let mut failovers = Vec::new();
    // The leader first, then the others (one of which leads by then).
    let leader = cluster.leader_of("js", 0, REJOIN_LIMIT)?;
    let mut order = vec![leader];
    order.extend((1..=3).filter(|id| *id != leader));
    for id in order {
        let killed = Instant::now();
        cluster.node_mut(id).kill()?;
        producer.wait_for_more(100)?;
        failovers.push(producer.longest_gap(killed));
        cluster.node_mut(id).restart()?;
        cluster.wait_in_sync("js", 1, REJOIN_LIMIT)?;
        producer.wait_for_more(100)?;
    }
    let acked = producer.stop()?;
    let stored = verify_at(&cluster.bootstrap(), "js", 1, &acked)?;
    eprintln!("kafkajs: acked {} stored {stored} lost 0; producer paused after each kill {failovers:?}", acked.len());
    Ok(())
}

/// OffsetForLeaderEpoch v3 for partition 0 of `topic`: (error, epoch, end offset).
fn end_offset_for_epoch(client: &mut RawClient, topic: &str, epoch: i32) -> Result<(i16, i32, i64)> {
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_topics(vec![OffsetForLeaderTopic::default().with_topic(raw::name(topic)).with_partitions(vec![
                OffsetForLeaderPartition::default()
                    .with_partition(0)
                    .with_current_leader_epoch(-1)
                    .with_leader_epoch(epoch),
            ])]);
    let mut frame = client.request(ApiKey::OffsetForLeaderEpoch, 3, &request)?;
    let response = OffsetForLeaderEpochResponse::decode(&mut frame, 3)?;
    let r = &response.topics[0].partitions[0];
    Ok((r.error_code, r.leader_epoch, r.end_offset))
}

/// Produces `records` acks=all to partition 0 through whichever running node leads it.
fn produce_to_leader(cluster: &Cluster, topic: &str, records: &[u8]) -> Result<i64> {
    wait_for(Duration::from_secs(30), || {
        let leader = cluster.leader_of(topic, 0, REJOIN_LIMIT)?;
        let Ok(mut client) = RawClient::connect(&cluster.node(leader).addr) else { return Ok(None) };
        let (code, offset) = raw::produce(&mut client, topic, records.to_vec())?;
        Ok((code == 0).then_some(offset))
    })
}

#[test]
fn a_divergent_tail_is_truncated_and_a_follower_far_behind_catches_up() -> Result<()> {
    // Sessions and lag allowances long enough that followers paused for a moment are neither
    // fenced nor dropped from the ISR.
    let mut cluster =
        cluster_with("div", 1, "1", &["broker.session.timeout.ms=6000", "replica.lag.time.max.ms=10000"])?;
    for _ in 0..10 {
        produce_to_leader(&cluster, "div", &simple(raw::now_ms(), 1))?;
    }
    let old = cluster.leader_of("div", 0, REJOIN_LIMIT)?;
    let followers: Vec<i32> = (1..=3).filter(|id| *id != old).collect();

    // The followers stop; once their parked fetches are answered (with nothing), the leader
    // takes an acks=1 record nobody else gets, then dies.
    for f in &followers {
        cluster.signal(*f, "STOP")?;
    }
    // Quiet means: nothing parked, and no fetch arrived over longer than a follower's long poll
    // (a request already on its way when the follower stopped is read, parked and answered).
    let http = cluster.node(old).http.clone();
    let mut last = (-1.0, Instant::now());
    wait_for(Duration::from_secs(20), || {
        let m = Metrics::scrape(&http)?;
        let (parked, fetches) =
            (m.get("fjord_fetch_waiters", &[]).unwrap_or(1.0), m.sum("fjord_requests_total", &[("api", "Fetch")]));
        if parked != 0.0 || fetches != last.0 {
            last = (fetches, Instant::now());
            return Ok(None);
        }
        Ok((last.1.elapsed() > Duration::from_millis(1_000)).then_some(()))
    })?;
    let tail =
        build(raw::now_ms(), &[Record { key: None, value: Some(b"tail"), timestamp_delta: 0 }], Producer::default());
    let mut client = RawClient::connect(&cluster.node(old).addr)?;
    assert_eq!(raw::produce_acks(&mut client, "div", 1, tail)?, (0, 10), "acks=1 is answered by the leader alone");
    cluster.node_mut(old).kill()?;
    for f in &followers {
        cluster.signal(*f, "CONT")?;
    }

    // A follower takes over in a new epoch, and the old leader falls far behind.
    let first_new = produce_to_leader(&cluster, "div", &simple(raw::now_ms(), 1))?;
    assert_eq!(first_new, 10, "the new leader's log ends where the replicated records end");
    let batch = simple(raw::now_ms(), 50);
    for _ in 0..200 {
        produce_to_leader(&cluster, "div", &batch)?;
    }
    let end = 11 + 200 * 50;

    // Back, the old leader truncates its tail (OffsetForLeaderEpoch), catches up, rejoins.
    cluster.node_mut(old).restart()?;
    cluster.wait_in_sync("div", 1, REJOIN_LIMIT)?;
    // Whoever leads now (the preferred replica gets it back), epoch 0 ended at offset 10.
    let (leader, answer, next) = wait_for(Duration::from_secs(30), || {
        let leader = cluster.leader_of("div", 0, REJOIN_LIMIT)?;
        let mut client = RawClient::connect(&cluster.node(leader).addr)?;
        let answer = end_offset_for_epoch(&mut client, "div", 0)?;
        let next = end_offset_for_epoch(&mut client, "div", 1)?;
        Ok((answer.0 == 0).then_some((leader, answer, next)))
    })?;
    assert_eq!(answer, (0, 0, 10), "OffsetForLeaderEpoch for epoch 0 from {leader} (old {old}); epoch 1: {next:?}");

    // Only the old leader is left, leading what it copied: the new leader's records, no tail.
    for f in followers {
        cluster.node_mut(f).terminate()?;
    }
    let alone = cluster.leader_of("div", 0, REJOIN_LIMIT)?;
    assert_eq!(alone, old, "controlled shutdown handed leadership to the last in-sync replica");
    let mut client = RawClient::connect(&cluster.node(old).addr)?;
    let (code, hw) = raw::list_offset(&mut client, "div", -1)?;
    assert_eq!((code, hw), (0, end), "everything the new leader acknowledged is here");
    let (code, _, records) = raw::fetch(&mut client, "div", 10)?;
    assert_eq!(code, 0);
    let header = BatchHeader::parse(&records).context("a batch at offset 10")?;
    assert_eq!(header.base_offset, 10);
    assert!(header.leader_epoch > 0, "offset 10 holds the new leader's record, not the truncated tail");
    assert!(!records.windows(4).any(|w| w == b"tail"), "the unreplicated tail is gone");
    Ok(())
}
