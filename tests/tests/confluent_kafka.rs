//! librdkafka through confluent-kafka (Python): an idempotent acks=all producer with each
//! compression codec round-trips 10,000 records with headers and null keys and values; a 900 KB
//! record round-trips and a 2 MB one is refused with MESSAGE_TOO_LARGE; the AdminClient's
//! config, partition, offset, record-deletion and cluster APIs take effect.

use anyhow::Result;
use fjord_tests::{Broker, python, run_ok};

fn round_trip(codec: &str) -> Result<()> {
    let broker = Broker::start()?;
    let topic = format!("idempotent-{codec}");
    let out = run_ok(
        python("roundtrip.py").args([
            "--bootstrap",
            &broker.addr,
            "--topic",
            &topic,
            "--codec",
            codec,
            "--count",
            "10000",
        ]),
        b"",
    )?;
    assert!(out.contains(&format!("ok {codec} 10000 records")), "{out}");
    Ok(())
}

#[test]
fn idempotent_gzip_round_trip() -> Result<()> {
    round_trip("gzip")
}

#[test]
fn idempotent_snappy_round_trip() -> Result<()> {
    round_trip("snappy")
}

#[test]
fn idempotent_lz4_round_trip() -> Result<()> {
    round_trip("lz4")
}

#[test]
fn idempotent_zstd_round_trip() -> Result<()> {
    round_trip("zstd")
}

#[test]
fn large_records_round_trip_up_to_max_message_bytes() -> Result<()> {
    let broker = Broker::start()?;
    let out = run_ok(python("large_records.py").args(["--bootstrap", &broker.addr, "--topic", "large"]), b"")?;
    assert!(out.contains("ok 900 KB round-tripped, 2 MB refused"), "{out}");
    Ok(())
}

#[test]
fn admin_client_apis_take_effect() -> Result<()> {
    let broker = Broker::start()?;
    let out = run_ok(python("admin.py").args(["--bootstrap", &broker.addr, "--topic", "administered"]), b"")?;
    assert!(out.contains("ok admin"), "{out}");
    Ok(())
}
