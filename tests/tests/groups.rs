//! Consumer groups (Kafka's classic protocol: FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups) against a
//! real broker, through real clients. Every broker starts with
//! `group.initial.rebalance.delay.ms=0` so that a group's first rebalance completes at once.
//!
//! - kafkajs: three members share four partitions; one leaves cleanly mid-batch, one hangs and is
//!   SIGKILLed (dropped only when its session times out); every record of two waves is consumed
//!   exactly once except the crashed member's uncommitted tail, which is redelivered from its
//!   last commit; then DescribeGroups, ListGroups, resetOffsets, setOffsets and DeleteGroups
//!   (`tests/clients/node/group.js`).
//! - librdkafka (confluent-kafka), once per assignment strategy (range, roundrobin,
//!   cooperative-sticky): two members split six partitions, one owner at a time, every record
//!   delivered once and committed synchronously; committed offsets equal the high watermarks
//!   (`group_assignors.py`).
//! - librdkafka: a group commits the first 100 of 200 records, the broker restarts (gracefully,
//!   and in a second test is SIGKILLed), and a new member resumes at exactly the committed
//!   offsets; admin offset resets (refused while the group has members), and replay from
//!   offsets found by timestamp, by assign and through group offsets (`group_resume.py`).
//! - kafka-python: commit, ListGroups, DescribeGroups, and a second member that starts at the
//!   committed offsets (`kafka_python_group.py`).
//! - kcat `-G` (a librdkafka balanced consumer from the command line): it reads every record
//!   once, and a second run in the same group reads only what was produced since.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use fjord_tests::{Broker, kcat, node, python, run_ok};

/// Every group test's broker: the first rebalance of a group completes without delay.
const GROUP_OVERRIDES: &[&str] = &["group.initial.rebalance.delay.ms=0"];

#[test]
fn kafkajs_group_survives_a_clean_leave_and_a_crashed_member() -> Result<()> {
    let broker = Broker::start_with(GROUP_OVERRIDES)?;
    let out = run_ok(node("group.js").args([&broker.addr, "kafkajs-grouped", "kafkajs-group"]), b"")?;
    assert!(out.contains("ok kafkajs group"), "{out}");
    Ok(())
}

fn assignor(strategy: &str) -> Result<()> {
    let broker = Broker::start_with(GROUP_OVERRIDES)?;
    let topic = format!("assigned-{strategy}");
    let out = run_ok(
        python("group_assignors.py").args(["--bootstrap", &broker.addr, "--topic", &topic, "--strategy", strategy]),
        b"",
    )?;
    assert!(out.contains(&format!("ok {strategy}")), "{out}");
    Ok(())
}

#[test]
fn librdkafka_group_with_range_assignor() -> Result<()> {
    assignor("range")
}

#[test]
fn librdkafka_group_with_roundrobin_assignor() -> Result<()> {
    assignor("roundrobin")
}

#[test]
fn librdkafka_group_with_cooperative_sticky_assignor() -> Result<()> {
    assignor("cooperative-sticky")
}

/// Runs one phase of `group_resume.py` against the broker's current address.
fn resume_phase(broker: &Broker, phase: &str, state: Option<&Path>) -> Result<String> {
    let mut cmd = python("group_resume.py");
    cmd.args(["--bootstrap", &broker.addr, "--topic", "resumed", "--group", "resumers", "--phase", phase]);
    if let Some(state) = state {
        cmd.arg("--state").arg(state);
    }
    run_ok(&mut cmd, b"")
}

/// Commits half the records, brings the broker back by `restart` (on the same data, at a new
/// address), and checks that a new member resumes at exactly the committed offsets.
fn resume_across(restart: impl FnOnce(&mut Broker) -> Result<()>) -> Result<()> {
    let mut broker = Broker::start_with(GROUP_OVERRIDES)?;
    let tmp = tempfile::tempdir()?;
    let state = tmp.path().join("state.json");
    let out = resume_phase(&broker, "produce-and-consume-half", Some(state.as_path()))?;
    assert!(out.contains("ok committed the first 100 of 200 records"), "{out}");
    restart(&mut broker)?;
    let out = resume_phase(&broker, "resume", Some(state.as_path()))?;
    assert!(out.contains("ok resumed 100 records after the committed offsets"), "{out}");
    Ok(())
}

#[test]
fn committed_offsets_survive_a_broker_restart() -> Result<()> {
    resume_across(Broker::restart)
}

#[test]
fn acknowledged_commits_survive_a_broker_kill() -> Result<()> {
    resume_across(|broker| {
        broker.kill()?;
        broker.restart()
    })
}

#[test]
fn group_offsets_reset_by_admin_and_replayed_by_timestamp() -> Result<()> {
    let broker = Broker::start_with(GROUP_OVERRIDES)?;
    let out = resume_phase(&broker, "reset", None)?;
    assert!(out.contains("ok reset to 0 replayed 200; timestamp"), "{out}");
    Ok(())
}

#[test]
fn kafka_python_group_commits_and_resumes() -> Result<()> {
    let broker = Broker::start_with(GROUP_OVERRIDES)?;
    let out = run_ok(
        python("kafka_python_group.py").args([
            "--bootstrap",
            &broker.addr,
            "--topic",
            "kafka-python-grouped",
            "--group",
            "kafka-python-group",
        ]),
        b"",
    )?;
    assert!(out.contains("ok kafka-python group"), "{out}");
    Ok(())
}

/// One `kcat -G` run: joins `group`, reads every assigned partition to its end, and exits.
/// Returns `(partition, offset, value)` per record.
///
/// No `-o`: in `-G` mode kcat applies `-o` to every partition it is assigned, overriding the
/// committed offsets, so `-o beginning` would reread everything each time. Where to start when
/// the group has no offset yet is `auto.offset.reset=earliest` instead. Offsets are committed by
/// librdkafka: `enable.auto.offset.store=true` (the default, set here to be explicit) stores
/// offset + 1 of each record as kcat takes it from `rd_kafka_consumer_poll` (kcat only stores
/// offsets itself in `-C` mode), and with `enable.auto.commit=true` `rd_kafka_consumer_close`,
/// which kcat calls on its way out after `-e`, commits the stored offsets before leaving the
/// group. So the final commit does not depend on the 100 ms auto-commit timer having fired.
fn kcat_group(broker: &Broker, group: &str, topic: &str) -> Result<Vec<(i32, i64, String)>> {
    let out = run_ok(
        kcat(&broker.addr).args([
            "-G",
            group,
            "-X",
            "auto.offset.reset=earliest",
            "-X",
            "enable.auto.commit=true",
            "-X",
            "enable.auto.offset.store=true",
            "-X",
            "auto.commit.interval.ms=100",
            "-e",
            "-q",
            "-f",
            "%p %o %s\n",
            topic,
        ]),
        b"",
    )?;
    out.lines()
        .map(|line| -> Result<(i32, i64, String)> {
            let mut fields = line.splitn(3, ' ');
            let mut next = || fields.next().with_context(|| format!("unexpected kcat line {line:?}"));
            Ok((next()?.parse()?, next()?.parse()?, next()?.to_string()))
        })
        .collect()
}

/// Checks that `records` are exactly the values `v<from>..v<to>`, each once, and that each
/// partition's records sit at consecutive offsets starting at `start[partition]` (0 if absent)
/// in the order they were produced. Returns the next offset of each partition.
fn check_records(
    records: &[(i32, i64, String)],
    from: usize,
    to: usize,
    start: &BTreeMap<i32, i64>,
) -> Result<BTreeMap<i32, i64>> {
    let mut values: Vec<usize> = records
        .iter()
        .map(|(_, _, v)| v.strip_prefix('v').and_then(|n| n.parse().ok()).with_context(|| format!("value {v:?}")))
        .collect::<Result<_>>()?;
    values.sort_unstable();
    ensure!(values == (from..to).collect::<Vec<_>>(), "expected v{from}..v{to} once each, got {values:?}");
    let mut by_partition: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
    for (p, o, v) in records {
        by_partition.entry(*p).or_default().push((*o, v[1..].parse()?));
    }
    let mut next = start.clone();
    for (p, mut rs) in by_partition {
        rs.sort_unstable();
        let first = start.get(&p).copied().unwrap_or(0);
        let offsets: Vec<i64> = rs.iter().map(|r| r.0).collect();
        ensure!(
            offsets == (first..first + rs.len() as i64).collect::<Vec<_>>(),
            "partition {p}: offsets {offsets:?}, expected consecutive from {first}"
        );
        ensure!(rs.windows(2).all(|w| w[0].1 < w[1].1), "partition {p}: records out of produce order: {rs:?}");
        next.insert(p, first + rs.len() as i64);
    }
    Ok(next)
}

#[test]
fn kcat_balanced_consumer_commits_what_it_read() -> Result<()> {
    let overrides: Vec<&str> = GROUP_OVERRIDES.iter().copied().chain(["num.partitions=3"]).collect();
    let broker = Broker::start_with(&overrides)?;
    let topic = "kcat-grouped";
    let produce = |from: usize, to: usize| -> Result<()> {
        let input: String = (from..to).map(|i| format!("k{i}:v{i}\n")).collect();
        run_ok(kcat(&broker.addr).args(["-P", "-t", topic, "-K:"]), input.as_bytes())?;
        Ok(())
    };
    produce(0, 300)?;
    let metadata = run_ok(kcat(&broker.addr).args(["-L", "-t", topic]), b"")?;
    assert!(metadata.contains(&format!("topic \"{topic}\" with 3 partitions")), "{metadata}");

    let first = kcat_group(&broker, "kcat-group", topic)?;
    let next = check_records(&first, 0, 300, &BTreeMap::new())?;
    assert_eq!(next.len(), 3, "records in every partition: {next:?}");

    let again = kcat_group(&broker, "kcat-group", topic)?;
    assert!(again.is_empty(), "a second run in the group reread committed records: {again:?}");

    produce(300, 330)?;
    let more = kcat_group(&broker, "kcat-group", topic)?;
    check_records(&more, 300, 330, &next)?;

    // Another group has no offsets yet: it reads everything from the beginning.
    let other = kcat_group(&broker, "kcat-other-group", topic)?;
    check_records(&other, 0, 330, &BTreeMap::new())?;
    Ok(())
}

/// `fjord groups ...` against the broker at `addr`: stdout.
fn fjord_groups(addr: &str, args: &[&str]) -> Result<String> {
    run_ok(Command::new(fjord_tests::fjord_bin()).arg("groups").args(args).args(["--bootstrap-server", addr]), b"")
}

/// The (current offset, end offset, lag) columns `fjord groups describe` prints for a partition.
fn described(addr: &str, group: &str, topic: &str, partition: i32) -> Result<(String, String, String)> {
    let out = fjord_groups(addr, &["describe", group])?;
    let row = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&topic) && f.get(1) == Some(&partition.to_string().as_str()))
        .with_context(|| format!("no row for {topic}-{partition}:\n{out}"))?;
    Ok((row[2].to_string(), row[3].to_string(), row[4].to_string()))
}

#[test]
fn fjord_groups_lists_describes_and_resets_offsets() -> Result<()> {
    let broker = Broker::start_with(GROUP_OVERRIDES)?;
    let addr = broker.addr.as_str();
    let input: String = (0..20).map(|i| format!("k{i}:v{i}\n")).collect();
    run_ok(kcat(addr).args(["-P", "-t", "ops", "-K:"]), input.as_bytes())?;
    assert_eq!(kcat_group(&broker, "ops-group", "ops")?.len(), 20);

    let listed = fjord_groups(addr, &["list"])?;
    assert!(listed.lines().any(|l| l.starts_with("ops-group") && l.ends_with("Empty")), "{listed}");
    let s = |v: &str| v.to_string();
    assert_eq!(described(addr, "ops-group", "ops", 0)?, (s("20"), s("20"), s("0")));

    let dry = fjord_groups(addr, &["reset", "ops-group", "--topic", "ops", "--to-offset", "5", "--dry-run"])?;
    assert!(dry.contains("dry run"), "{dry}");
    assert_eq!(described(addr, "ops-group", "ops", 0)?.0, "20", "a dry run commits nothing");

    fjord_groups(addr, &["reset", "ops-group", "--topic", "ops", "--to-offset", "5"])?;
    assert_eq!(described(addr, "ops-group", "ops", 0)?, (s("5"), s("20"), s("15")));
    let replayed = kcat_group(&broker, "ops-group", "ops")?;
    assert_eq!(
        replayed.iter().map(|r| r.1).collect::<Vec<_>>(),
        (5..20).collect::<Vec<i64>>(),
        "replays from offset 5"
    );

    fjord_groups(addr, &["reset", "ops-group", "--topic", "ops", "--to-earliest"])?;
    assert_eq!(described(addr, "ops-group", "ops", 0)?.0, "0");
    fjord_groups(addr, &["reset", "ops-group", "--topic", "ops", "--by-duration", "PT1H"])?;
    assert_eq!(described(addr, "ops-group", "ops", 0)?.0, "0", "everything is newer than an hour");
    fjord_groups(addr, &["reset", "ops-group", "--topic", "ops", "--to-datetime", "2100-01-01T00:00:00Z"])?;
    assert_eq!(described(addr, "ops-group", "ops", 0)?.0, "20", "nothing that late: the log end");
    Ok(())
}
