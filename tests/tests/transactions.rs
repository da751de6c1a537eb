//! Transactions with real clients: librdkafka (confluent-kafka) commits and aborts, holds
//! read_committed consumers at an open transaction, is fenced by a newer producer with its id,
//! consumes, transforms and produces exactly once with its offsets in the transaction, and has
//! a silent transaction aborted at its timeout; kafkajs commits with offsets, aborts and is
//! fenced. On three brokers, a stream of transactions survives killing its coordinator, twice:
//! every transaction is visible to read_committed consumers entirely or not at all, the
//! committed ones entirely, the aborted ones not at all; and a consume-transform-produce
//! service stays exactly once through SIGKILLs of its transaction coordinator and of a leader
//! of its output.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fjord_tests::cluster::Cluster;
use fjord_tests::http::Metrics;
use fjord_tests::stream::{LineStream, longest_gap};
use fjord_tests::{Broker, RawClient, node, python, raw, run_ok, wait_for};

/// How long a restarted broker may take to catch up and rejoin every ISR.
const REJOIN_LIMIT: Duration = Duration::from_secs(60);
/// Records per transaction of `txn_stream.py`.
const PER_TRANSACTION: usize = 6;

fn scenario(broker: &Broker, name: &str) -> Result<()> {
    let out = run_ok(python("transactions.py").args(["--bootstrap", &broker.addr, "--scenario", name]), b"")?;
    assert!(out.contains(&format!("ok {name}")), "{out}");
    Ok(())
}

#[test]
fn committed_and_aborted_transactions_as_each_isolation_level_reads_them() -> Result<()> {
    let broker = Broker::start()?;
    scenario(&broker, "commit-abort")?;
    // Two commits and an abort; their Complete records follow the answers to EndTxn.
    let ended = wait_for(Duration::from_secs(30), || {
        let metrics = Metrics::scrape(&broker.http)?;
        let count = |result| metrics.get("fjord_transactions_ended_total", &[("result", result)]);
        Ok((count("commit") == Some(2.0) && count("abort") == Some(1.0)).then_some(metrics))
    });
    let metrics = ended.context("transactions_ended_total")?;
    ensure!(metrics.get("fjord_transactions", &[("state", "CompleteCommit")]) == Some(1.0), "{}", metrics.text);
    ensure!(metrics.get("fjord_transactions", &[("state", "Ongoing")]) == Some(0.0), "{}", metrics.text);
    Ok(())
}

#[test]
fn an_open_transaction_holds_read_committed_consumers() -> Result<()> {
    scenario(&Broker::start()?, "open-transaction")
}

#[test]
fn a_new_producer_fences_the_old_one_and_aborts_its_transaction() -> Result<()> {
    scenario(&Broker::start()?, "fencing")
}

#[test]
fn consume_transform_produce_is_exactly_once() -> Result<()> {
    scenario(&Broker::start()?, "consume-transform-produce")
}

#[test]
fn a_transaction_past_its_timeout_is_aborted() -> Result<()> {
    let broker = Broker::start_with(&["transaction.abort.timed.out.transaction.cleanup.interval.ms=200"])?;
    scenario(&broker, "timeout")
}

#[test]
fn kafkajs_transactions_commit_abort_and_fence() -> Result<()> {
    let broker = Broker::start()?;
    let out = run_ok(node("transactions.js").args([&broker.addr, "kafkajs-txn"]), b"")?;
    assert!(out.contains("ok kafkajs transactions"), "{out}");
    Ok(())
}

/// The running broker coordinating transactional id `id`, as FindCoordinator through a running
/// node answers once the cluster noticed any broker that died.
fn coordinator_of(cluster: &Cluster, id: &str) -> Result<i32> {
    let running = cluster.running();
    wait_for(Duration::from_secs(30), || {
        let mut client = RawClient::connect(&cluster.node(running[0]).addr)?;
        let (code, node) = raw::find_coordinator(&mut client, 1, id)?;
        Ok((code == 0 && running.contains(&node)).then_some(node))
    })
    .context("find the transaction coordinator")
}

#[test]
fn transactions_survive_killing_their_coordinator() -> Result<()> {
    let mut cluster = Cluster::start(3, &[])?;
    replicated_topic(&cluster, "txn")?;
    let bootstrap = cluster.bootstrap();
    let mut stream = LineStream::spawn(python("txn_stream.py").args(["--bootstrap", &bootstrap, "--topic", "txn"]))?;
    stream.wait_for_lines(20)?;
    for _ in 0..2 {
        let coordinator = coordinator_of(&cluster, "txn-stream")?;
        cluster.node_mut(coordinator).kill()?;
        let before = stream.received.len();
        stream.wait_for_more(20)?;
        let committed_since = stream.received[before..].iter().filter(|(_, l)| l.starts_with("committed")).count();
        ensure!(committed_since > 0, "no transaction committed after node {coordinator} was killed");
        cluster.node_mut(coordinator).restart()?;
        cluster.wait_in_sync("txn", 3, REJOIN_LIMIT)?;
        stream.wait_for_more(10)?;
    }
    let lines: Vec<String> = stream.stop()?.into_iter().map(|(_, l)| l).collect();
    let read =
        run_ok(python("txn_stream.py").args(["--bootstrap", &bootstrap, "--topic", "txn", "--mode", "read"]), b"")?;

    // What the producer learnt of each transaction.
    let mut outcome: BTreeMap<u64, String> = BTreeMap::new();
    for line in &lines {
        let (what, k) = line.split_once(' ').with_context(|| format!("bad stream line {line:?}"))?;
        outcome.insert(k.parse()?, what.to_string());
    }
    // What read_committed consumers see of each: its records' indexes.
    let mut visible: BTreeMap<u64, BTreeSet<usize>> = BTreeMap::new();
    let mut last_in_partition: BTreeMap<u32, u64> = BTreeMap::new();
    for line in read.lines() {
        let f: Vec<&str> = line.splitn(3, ' ').collect();
        let [p, _offset, value] = f[..] else { bail!("bad read line {line:?}") };
        let (k, j) = value
            .strip_prefix('t')
            .and_then(|v| v.split_once('-'))
            .with_context(|| format!("{value:?} was never sent"))?;
        let (k, j): (u64, usize) = (k.parse()?, j.parse()?);
        ensure!(visible.entry(k).or_default().insert(j), "t{k}-{j} is stored twice");
        if let Some(before) = last_in_partition.insert(p.parse()?, k) {
            ensure!(before <= k, "partition {p} holds transaction {k} after {before}");
        }
    }
    for (k, records) in &visible {
        ensure!(records.len() == PER_TRANSACTION, "transaction {k} is partly visible: {records:?}");
        ensure!(outcome.get(k).is_none_or(|o| o != "aborted"), "aborted transaction {k} is visible");
    }
    let committed: Vec<u64> = outcome.iter().filter(|(_, o)| *o == "committed").map(|(k, _)| *k).collect();
    let lost: Vec<&u64> = committed.iter().filter(|k| !visible.contains_key(k)).collect();
    ensure!(lost.is_empty(), "committed transactions not visible: {lost:?}");
    eprintln!(
        "{} transactions: {} committed, {} aborted, {} unknown; {} visible",
        outcome.len(),
        committed.len(),
        outcome.values().filter(|o| *o == "aborted").count(),
        outcome.values().filter(|o| *o == "unknown").count(),
        visible.len()
    );
    Ok(())
}

/// `fjord transactions <args>` against `broker`: (success, stdout, stderr).
fn fjord_transactions(broker: &Broker, args: &[&str]) -> Result<(bool, String, String)> {
    let out = fjord_tests::run(
        std::process::Command::new(fjord_tests::fjord_bin())
            .args(["transactions", "--bootstrap-server", &broker.addr])
            .args(args),
        b"",
    )?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok((out.status.success(), text(&out.stdout), text(&out.stderr)))
}

#[test]
fn an_operator_finds_and_aborts_a_hanging_transaction() -> Result<()> {
    let broker = Broker::start()?;
    let mut hanging =
        LineStream::spawn(python("transactions.py").args(["--bootstrap", &broker.addr, "--scenario", "hang"]))?;
    hanging.wait_for_lines(1)?;
    ensure!(hanging.received[0].1 == "open", "{:?}", hanging.received);

    let metrics = Metrics::scrape(&broker.http)?;
    ensure!(metrics.get("fjord_transactions", &[("state", "Ongoing")]) == Some(1.0), "{}", metrics.text);
    let partition = [("topic", "hang"), ("partition", "0")];
    ensure!(metrics.get("fjord_partition_last_stable_offset", &partition) == Some(0.0), "{}", metrics.text);
    ensure!(metrics.get("fjord_partition_high_watermark", &partition) == Some(4.0), "{}", metrics.text);

    let (ok, listed, err) = fjord_transactions(&broker, &["list"])?;
    ensure!(ok, "{err}");
    let row: Vec<&str> =
        listed.lines().find(|l| l.starts_with("hanging ")).context(listed.clone())?.split_whitespace().collect();
    ensure!(row[2] == "Ongoing" && row[3] == "1", "{listed}");
    let producer_id = row[1];
    let (_, filtered, _) = fjord_transactions(&broker, &["list", "--state", "Ongoing", "--min-duration-ms", "0"])?;
    ensure!(filtered.contains("hanging "), "{filtered}");
    let (_, filtered, _) = fjord_transactions(&broker, &["list", "--state", "CompleteCommit"])?;
    ensure!(!filtered.contains("hanging "), "{filtered}");
    let (ok, _, err) = fjord_transactions(&broker, &["list", "--state", "Sleeping"])?;
    ensure!(!ok && err.contains("Sleeping"), "{err}");

    let (ok, described, err) = fjord_transactions(&broker, &["describe", "hanging"])?;
    ensure!(ok, "{err}");
    for expected in [
        "state:            Ongoing",
        &format!("id {producer_id} epoch 0"),
        "timeout:          600000 ms",
        "partition:        hang-0",
    ] {
        ensure!(described.contains(expected), "no {expected:?} in {described}");
    }
    let (ok, _, err) = fjord_transactions(&broker, &["describe", "nobody"])?;
    ensure!(!ok && err.contains("TransactionalIdNotFound"), "{err}");

    let (ok, producers, err) = fjord_transactions(&broker, &["producers", "--topic", "hang", "--partition", "0"])?;
    ensure!(ok, "{err}");
    let row: Vec<&str> = producers.lines().nth(1).context(producers.clone())?.split_whitespace().collect();
    ensure!(
        row[0] == producer_id && row[2] == "3" && row[5] == "0",
        "producer, last sequence, start offset: {producers}"
    );

    let (ok, _, err) =
        fjord_transactions(&broker, &["abort", "--topic", "hang", "--partition", "0", "--start-offset", "7"])?;
    ensure!(!ok && err.contains("offset 7"), "{err}");
    let (ok, aborted, err) =
        fjord_transactions(&broker, &["abort", "--topic", "hang", "--partition", "0", "--start-offset", "0"])?;
    ensure!(ok && aborted.contains(&format!("producer {producer_id}")), "{aborted}{err}");
    let (_, producers, _) = fjord_transactions(&broker, &["producers", "--topic", "hang", "--partition", "0"])?;
    let row: Vec<&str> = producers.lines().nth(1).context(producers.clone())?.split_whitespace().collect();
    ensure!(row[5] == "-", "the transaction is still open in the partition: {producers}");
    // The partition is stable again: read_committed consumers read past the aborted records.
    let mut client = RawClient::connect(&broker.addr)?;
    let (code, lso) = raw::list_offset_committed(&mut client, "hang")?;
    ensure!((code, lso) == (0, 5), "last stable offset after the abort: {lso} (error {code})");
    drop(hanging);
    Ok(())
}

/// Creates `topic` with 3 partitions, 3 replicas and `min.insync.replicas=2`, all in sync.
fn replicated_topic(cluster: &Cluster, topic: &str) -> Result<()> {
    let mut client = RawClient::connect(&cluster.node(cluster.running()[0]).addr)?;
    wait_for(Duration::from_secs(30), || {
        let code = raw::create_topic_with(&mut client, topic, (3, 3), &[("min.insync.replicas", "2")])?;
        Ok(matches!(code, 0 | 36).then_some(()))
    })?;
    cluster.wait_in_sync(topic, 3, REJOIN_LIMIT)?;
    Ok(())
}

#[test]
fn consume_transform_produce_stays_exactly_once_through_broker_kills() -> Result<()> {
    const COUNT: usize = 3000;
    let mut cluster = Cluster::start(3, &[])?;
    replicated_topic(&cluster, "ctp-in")?;
    replicated_topic(&cluster, "ctp-out")?;
    let bootstrap = cluster.bootstrap();
    let ctp = |mode: &str| {
        let mut cmd = python("ctp_stream.py");
        cmd.args(["--bootstrap", &bootstrap, "--source", "ctp-in", "--sink", "ctp-out", "--mode", mode]);
        cmd.args(["--count", &COUNT.to_string()]);
        cmd
    };
    run_ok(&mut ctp("seed"), b"")?;
    let mut service = LineStream::spawn(&mut ctp("process"))?;
    service.wait_for_lines(5)?;

    let coordinator = coordinator_of(&cluster, "ctp")?;
    let coordinator_killed = Instant::now();
    cluster.node_mut(coordinator).kill()?;
    service.wait_for_more(5)?;
    cluster.node_mut(coordinator).restart()?;
    cluster.wait_in_sync("ctp-out", 3, REJOIN_LIMIT)?;
    let leader = cluster.leader_of("ctp-out", 0, REJOIN_LIMIT)?;
    let leader_killed = Instant::now();
    cluster.node_mut(leader).kill()?;
    service.wait_for_more(5)?;
    cluster.node_mut(leader).restart()?;
    while !service.received.iter().any(|(_, l)| l == "done") {
        service.wait_for_more(1)?;
    }
    let lines = service.stop()?;
    let until = |from: Instant, to: Instant| -> Vec<(Instant, String)> {
        lines.iter().filter(|(t, _)| (from..to).contains(t)).cloned().collect()
    };
    let pause_coordinator = longest_gap(&until(coordinator_killed, leader_killed), coordinator_killed);
    let pause_leader = longest_gap(&until(leader_killed, Instant::now()), leader_killed);

    let read =
        run_ok(python("txn_stream.py").args(["--bootstrap", &bootstrap, "--topic", "ctp-out", "--mode", "read"]), b"")?;
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    for line in read.lines() {
        let value = line.splitn(3, ' ').nth(2).with_context(|| format!("bad read line {line:?}"))?;
        let i: usize = value
            .strip_prefix("out-")
            .and_then(|i| i.parse().ok())
            .with_context(|| format!("{value:?} was never produced"))?;
        *seen.entry(i).or_default() += 1;
    }
    let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    let missing: Vec<usize> = (0..COUNT).filter(|i| !seen.contains_key(i)).collect();
    eprintln!(
        "{COUNT} records in, {} out ({} distinct), {} duplicated, {} missing; {} commits; longest pause {pause_coordinator:?} after killing the coordinator (node {coordinator}), {pause_leader:?} after killing the leader of ctp-out-0 (node {leader})",
        seen.values().sum::<usize>(),
        seen.len(),
        duplicates.len(),
        missing.len(),
        lines.iter().filter(|(_, l)| l.starts_with("committed")).count()
    );
    ensure!(duplicates.is_empty(), "records transformed twice: {:?}", &duplicates[..duplicates.len().min(10)]);
    ensure!(missing.is_empty(), "records never transformed: {:?}", &missing[..missing.len().min(10)]);
    ensure!(seen.len() == COUNT, "{} records out of range", seen.len() - COUNT);
    Ok(())
}
