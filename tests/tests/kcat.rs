//! kcat (librdkafka's command-line client, from apt) against a real broker: metadata, keyed
//! produce, consume from the beginning, and offset queries by timestamp.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use fjord_tests::{Broker, kcat, run_ok, wait_for};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `(key, value, offset, timestamp)` of every record, in order.
fn consume(broker: &Broker, topic: &str) -> Result<Vec<(String, String, i64, i64)>> {
    let out = run_ok(
        kcat(&broker.addr).args(["-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k|%s|%o|%T\n"]),
        b"",
    )?;
    out.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            anyhow::ensure!(f.len() == 4, "unexpected kcat line {line:?}");
            Ok((f[0].to_string(), f[1].to_string(), f[2].parse()?, f[3].parse()?))
        })
        .collect()
}

fn query(broker: &Broker, topic: &str, timestamp: i64) -> Result<i64> {
    let out = run_ok(kcat(&broker.addr).args(["-Q", "-t", &format!("{topic}:0:{timestamp}")]), b"")?;
    let offset = out.rsplit("offset ").next().context("no offset in kcat -Q output")?;
    offset.trim().parse().with_context(|| format!("kcat -Q printed {out:?}"))
}

#[test]
fn kcat_lists_produces_consumes_and_queries_offsets_by_time() -> Result<()> {
    let broker = Broker::start()?;
    let metadata = run_ok(kcat(&broker.addr).arg("-L"), b"")?;
    assert!(metadata.contains(" 1 brokers:"), "{metadata}");
    assert!(metadata.contains(&format!("broker 1 at {}", broker.addr)), "{metadata}");

    // The topic does not exist: auto-created on first use, as Kafka does by default.
    run_ok(kcat(&broker.addr).args(["-P", "-t", "events", "-K:"]), b"alice:login\nbob:view\nalice:logout\n")?;
    let metadata = run_ok(kcat(&broker.addr).args(["-L", "-t", "events"]), b"")?;
    assert!(metadata.contains("topic \"events\" with 1 partitions"), "{metadata}");

    let first = consume(&broker, "events")?;
    let got: Vec<_> = first.iter().map(|(k, v, o, _)| (k.as_str(), v.as_str(), *o)).collect();
    assert_eq!(got, vec![("alice", "login", 0), ("bob", "view", 1), ("alice", "logout", 2)]);
    let first_max = first.iter().map(|r| r.3).max().context("no timestamps")?;

    // A later batch, produced once the clock has passed every timestamp of the first.
    wait_for(Duration::from_secs(5), || Ok((now_ms() > first_max + 1).then_some(())))?;
    run_ok(kcat(&broker.addr).args(["-P", "-t", "events", "-K:"]), b"carol:buy\n")?;
    let all = consume(&broker, "events")?;
    assert_eq!(all.len(), 4);
    assert!(all[3].3 > first_max);

    assert_eq!(query(&broker, "events", 0)?, 0);
    assert_eq!(query(&broker, "events", first_max)?, first.iter().position(|r| r.3 == first_max).unwrap() as i64);
    assert_eq!(query(&broker, "events", first_max + 1)?, 3, "the first record at or after the time");
    assert_eq!(query(&broker, "events", all[3].3 + 60_000)?, -1, "nothing that late");
    Ok(())
}

#[test]
fn kcat_consumes_compressed_batches_it_produced() -> Result<()> {
    let broker = Broker::start()?;
    let input: String = (0..500).map(|i| format!("k{i}:value number {i}\n")).collect();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("kcat-{codec}");
        run_ok(kcat(&broker.addr).args(["-P", "-t", &topic, "-K:", "-z", codec]), input.as_bytes())?;
        let records = consume(&broker, &topic)?;
        assert_eq!(records.len(), 500, "{codec}");
        for (i, (k, v, o, _)) in records.iter().enumerate() {
            assert_eq!(
                (k.as_str(), v.as_str(), *o),
                (format!("k{i}").as_str(), format!("value number {i}").as_str(), i as i64)
            );
        }
    }
    Ok(())
}
