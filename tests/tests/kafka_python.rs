//! kafka-python (pure Python, its own protocol implementation): admin create/list topics, an
//! acks=all gzip producer with keys and headers, a group-less consumer reading it all back.

use anyhow::Result;
use fjord_tests::{Broker, python, run_ok};

#[test]
fn kafka_python_round_trip() -> Result<()> {
    let broker = Broker::start()?;
    let out = run_ok(
        python("kafka_python_roundtrip.py").args(["--bootstrap", &broker.addr, "--topic", "kafka-python"]),
        b"",
    )?;
    assert!(out.contains("ok kafka-python 500 records"), "{out}");
    Ok(())
}
