//! Three `fjord` processes forming one cluster over Raft on loopback, driven by real clients:
//! kcat (Debian's librdkafka 2.0.2), confluent-kafka (a current librdkafka) and kafkajs. Topics
//! spread over the brokers, requests reach the leaders, consumer groups find their coordinators
//! on any broker, metadata changes survive SIGKILL of the controller, and everything survives
//! restarting every node.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use fjord_tests::cluster::{Cluster, FAILOVER_LIMIT};
use fjord_tests::{RawClient, fjord_bin, kcat, node, python, raw, run, run_ok, wait_for};

/// Kafka's partition of a group in `__consumer_offsets`: `abs(groupId.hashCode()) % partitions`.
fn java_hash_partition(group: &str, partitions: i32) -> i32 {
    let hash = group.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    (if hash == i32::MIN { 0 } else { hash.abs() }) % partitions
}

/// The brokers `kcat -L` lists, by id.
fn kcat_brokers(addr: &str) -> Result<Vec<i32>> {
    let out = run_ok(kcat(addr).args(["-L", "-m", "10"]), b"")?;
    let mut ids: Vec<i32> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("broker "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Waits until `kcat -L` on `addr` lists exactly `brokers`.
fn wait_for_brokers(addr: &str, brokers: &[i32]) -> Result<()> {
    wait_for(Duration::from_secs(30), || Ok((kcat_brokers(addr)? == brokers).then_some(())))
}

/// Creates `topic` with `partitions` through `addr` (librdkafka's admin client): Ok(false)
/// when the cluster answered with a retriable error.
fn create_topic(addr: &str, topic: &str, partitions: i32) -> Result<bool> {
    let out = run(
        python("cluster.py")
            .args(["create", "--bootstrap", addr, "--topic", topic])
            .args(["--partitions", &partitions.to_string()]),
        b"",
    )?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(3) => Ok(false),
        _ => bail!(
            "creating {topic} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Creates `topic`, retrying while the cluster answers that it is electing a controller.
fn create_topic_eventually(addr: &str, topic: &str, partitions: i32) -> Result<()> {
    wait_for(Duration::from_secs(30), || Ok(create_topic(addr, topic, partitions)?.then_some(())))
}

#[test]
fn three_brokers_spread_topics_and_serve_every_client() -> Result<()> {
    let cluster = Cluster::start(3, &[])?;
    let controller = cluster.controller()?;
    assert!((1..=3).contains(&controller));
    for id in 1..=3 {
        assert_eq!(kcat_brokers(&cluster.node(id).addr)?, [1, 2, 3], "kcat -L on node {id}");
    }

    // Created through node 2, visible from node 3 with leaders on all three brokers.
    create_topic_eventually(&cluster.node(2).addr, "spread", 12)?;
    let out =
        run_ok(python("cluster.py").args(["spread", "--bootstrap", &cluster.node(3).addr, "--topic", "spread"]), b"")?;
    assert!(out.contains("ok 12 partitions led by {1: 4, 2: 4, 3: 4}"), "{out}");

    // A partition answers only on its leader; the others send clients to the metadata.
    let mut client = RawClient::connect(&cluster.node(1).addr)?;
    assert_eq!(raw::create_topic(&mut client, "solo", &[])?, 0);
    // Three replicas on three brokers; a fourth has no broker to go to.
    assert_eq!(raw::create_replicated_topic(&mut client, "triple", 3, &[])?, 0);
    assert_eq!(raw::create_replicated_topic(&mut client, "quadruple", 4, &[])?, 38, "INVALID_REPLICATION_FACTOR");
    let mut listed = String::new();
    let replicated = wait_for(Duration::from_secs(10), || {
        listed = run_ok(kcat(&cluster.node(3).addr).args(["-L", "-t", "triple"]), b"")?;
        let line = listed.lines().find(|l| l.contains("partition 0,")).unwrap_or_default().to_string();
        let count =
            |field: &str| line.split(field).nth(1).map_or(0, |r| r.split(", ").next().unwrap_or("").split(',').count());
        Ok((count("replicas: ") == 3 && count("isrs: ") == 3).then_some(()))
    });
    assert!(replicated.is_ok(), "three replicas, all in sync: {listed}");
    // A manual assignment is kept: the leaders are the brokers it names.
    assert_eq!(raw::create_assigned_topic(&mut client, "placed", &[&[3], &[1], &[3]])?, 0);
    let out = run_ok(kcat(&cluster.node(2).addr).args(["-L", "-t", "placed"]), b"")?;
    for (p, leader) in [(0, 3), (1, 1), (2, 3)] {
        assert!(out.contains(&format!("partition {p}, leader {leader},")), "{out}");
    }
    let mut clients = (1..=3).map(|id| RawClient::connect(&cluster.node(id).addr)).collect::<Result<Vec<_>>>()?;
    let mut answers = Vec::new();
    let settled = wait_for(Duration::from_secs(10), || {
        answers =
            clients.iter_mut().map(|c| raw::list_offset(c, "solo", -1).map(|(code, _)| code)).collect::<Result<_>>()?;
        answers.sort_unstable();
        Ok((answers == [0, 6, 6]).then_some(()))
    });
    assert!(settled.is_ok(), "the leader answers, the others say NOT_LEADER_OR_FOLLOWER: {answers:?}");

    // librdkafka: idempotent produce over three partitions (three leaders) and back.
    let out = run_ok(
        python("roundtrip.py")
            .args(["--bootstrap", &cluster.node(1).addr, "--topic", "rt", "--codec", "lz4"])
            .args(["--count", "3000"]),
        b"",
    )?;
    assert!(out.starts_with("ok"), "{out}");
    // librdkafka consumer group over 12 partitions led by three brokers.
    let out =
        run_ok(python("cluster.py").args(["groups", "--bootstrap", &cluster.node(3).addr, "--topic", "grouped"]), b"")?;
    assert!(out.starts_with("ok group consumed 1200"), "{out}");
    // kafkajs: the whole consumer-group scenario, joins, leaves, a crashed member, admin resets.
    let out = run_ok(node("group.js").args([&cluster.node(2).addr, "js-grouped", "js-group"]), b"")?;
    assert!(out.contains("ok kafkajs group"), "{out}");
    // Debian's kcat as a group consumer, committing.
    let produced: String = (0..60).map(|i| format!("k{i}:v{i}\n")).collect();
    run_ok(kcat(&cluster.bootstrap()).args(["-P", "-t", "grouped", "-K:"]), produced.as_bytes())?;
    let out = run_ok(
        kcat(&cluster.node(1).addr).args(["-G", "kcat-group", "grouped", "-X", "auto.offset.reset=earliest", "-e"]),
        b"",
    )?;
    assert_eq!(out.lines().count(), 1260, "1200 records of the group test and 60 more");

    // `fjord groups` on any broker: every broker's groups (group.js deleted its own at the end);
    // a group's offsets from its coordinator, end offsets from each partition's leader.
    let groups = |args: &[&str]| {
        run_ok(
            Command::new(fjord_bin()).arg("groups").args(args).args(["--bootstrap-server", &cluster.node(2).addr]),
            b"",
        )
    };
    let listed = groups(&["list"])?;
    for g in ["grouped-group", "kcat-group"] {
        assert!(listed.contains(g), "{listed}");
    }
    let described = groups(&["describe", "grouped-group"])?;
    let lag: Vec<i64> = described
        .lines()
        .filter(|l| l.starts_with("grouped "))
        .map(|l| l.split_whitespace().nth(4).and_then(|v| v.parse().ok()).unwrap_or(-1))
        .collect();
    assert_eq!(lag.len(), 12, "{described}");
    assert_eq!(lag.iter().sum::<i64>(), 60, "the 60 records produced after its commits: {described}");
    groups(&["reset", "grouped-group", "--topic", "grouped", "--to-latest"])?;
    let described = groups(&["describe", "grouped-group"])?;
    assert!(described.lines().filter(|l| l.starts_with("grouped ")).all(|l| l.split_whitespace().nth(4) == Some("0")));

    // Deleted through a broker that does not coordinate the group: its coordinator forgets the
    // topic's offsets all the same.
    let offsets = run_ok(kcat(&cluster.node(1).addr).args(["-L", "-t", "__consumer_offsets"]), b"")?;
    let wanted = format!("partition {}, leader ", java_hash_partition("grouped-group", 50));
    let coordinator: i32 = offsets
        .lines()
        .find_map(|l| l.trim().strip_prefix(&wanted)?.split(',').next()?.parse().ok())
        .expect("the group's offsets partition has a leader");
    let elsewhere = (1..=3).find(|id| *id != coordinator).unwrap();
    let out = run_ok(
        python("cluster.py").args(["delete", "--bootstrap", &cluster.node(elsewhere).addr, "--topic", "grouped"]),
        b"",
    )?;
    assert!(out.starts_with("ok deleted"), "{out}");
    wait_for(Duration::from_secs(10), || {
        let described = groups(&["describe", "grouped-group"])?;
        Ok((!described.lines().any(|l| l.starts_with("grouped "))).then_some(()))
    })?;
    Ok(())
}

#[test]
fn metadata_changes_survive_killing_the_controller() -> Result<()> {
    let mut cluster = Cluster::start(3, &[])?;
    let controller = cluster.controller()?;
    create_topic_eventually(&cluster.node(controller).addr, "before", 3)?;

    cluster.node_mut(controller).kill()?;
    let killed = Instant::now();
    let survivor = cluster.running()[0];
    let mut attempt = 0;
    wait_for(FAILOVER_LIMIT, || {
        attempt += 1;
        create_topic(&cluster.node(survivor).addr, &format!("after-{attempt}"), 3).map(|ok| ok.then_some(()))
    })?;
    let changed = killed.elapsed();
    let next = cluster.controller()?;
    assert_ne!(next, controller);
    eprintln!("after the controller was killed: a metadata change succeeded in {changed:?} ({attempt} attempts)");

    // The dead broker's session runs out: clients stop seeing it.
    let others: Vec<i32> = cluster.running();
    wait_for_brokers(&cluster.node(survivor).addr, &others)?;

    // Back on its data: it catches up on what it missed and is listed again.
    cluster.node_mut(controller).restart()?;
    let back = &cluster.node(controller).addr;
    wait_for_brokers(back, &[1, 2, 3])?;
    let out = run_ok(kcat(back).args(["-L", "-t", &format!("after-{attempt}")]), b"")?;
    assert!(out.contains("3 partitions"), "{out}");
    Ok(())
}

#[test]
fn every_node_restarted_keeps_topics_and_records() -> Result<()> {
    let mut cluster = Cluster::start(3, &[])?;
    create_topic_eventually(&cluster.node(1).addr, "kept", 6)?;
    let records: Vec<String> = (0..300).map(|i| format!("k{i}:v{i}")).collect();
    run_ok(kcat(&cluster.bootstrap()).args(["-P", "-t", "kept", "-K:"]), (records.join("\n") + "\n").as_bytes())?;

    cluster.restart_all()?;
    cluster.controller()?;
    for id in 1..=3 {
        wait_for_brokers(&cluster.node(id).addr, &[1, 2, 3])?;
    }
    let out =
        run_ok(kcat(&cluster.bootstrap()).args(["-C", "-t", "kept", "-o", "beginning", "-e", "-f", "%k:%s\n"]), b"")?;
    let mut got: Vec<&str> = out.lines().collect();
    got.sort_unstable();
    let mut want: Vec<&str> = records.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(got, want, "every record, once, after restarting every node");
    create_topic_eventually(&cluster.node(3).addr, "after-restart", 2)?;
    Ok(())
}

#[test]
fn a_node_without_a_quorum_waits_unready_and_stops_on_sigterm() -> Result<()> {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let tmp = tempfile::tempdir()?;
    let ports = fjord_tests::cluster::reserve_ports(3)?;
    // Nodes 2 and 3 never start: node 1 can never win an election.
    let voters = format!("1@127.0.0.1:{},2@127.0.0.1:{},3@127.0.0.1:{}", ports[0], ports[1], ports[2]);
    let mut child = Command::new(fjord_bin())
        .arg("serve")
        .args(["--override", &format!("listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{}", ports[0])])
        .args(["--override", &format!("controller.quorum.voters={voters}")])
        .args(["--override", "http.listener=127.0.0.1:0"])
        .args(["--override", &format!("log.dirs={}", tmp.path().display())])
        .env("RUST_LOG", "error,openraft=off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().transpose()?.unwrap_or_default();
    let http = first.strip_prefix("fjord http listening on ").expect("the HTTP address comes first").to_string();
    let (status, _) = fjord_tests::http::get(&http, "/ready")?;
    assert_eq!(status, 503, "not ready without a quorum");
    run_ok(Command::new("kill").args(["-TERM", &child.id().to_string()]), b"")?;
    let exit = fjord_tests::wait_with_deadline(&mut child, Duration::from_secs(10))?;
    assert!(exit.success(), "{exit}");
    assert!(lines.all(|l| !l.unwrap_or_default().starts_with("fjord listening on")), "it never served");
    Ok(())
}
