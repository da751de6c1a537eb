//! SIGKILL during an acks=all stream: after a restart every acknowledged record is there,
//! exactly once, at the offset it was acknowledged with.

use anyhow::Result;
use fjord_tests::Broker;
use fjord_tests::stream::{AckedStream, verify};

const ACKS_BEFORE_KILL: usize = 3_000;

#[test]
fn acknowledged_records_survive_sigkill_exactly_once() -> Result<()> {
    let mut broker = Broker::start_with(&["num.partitions=2"])?;
    let mut stream = AckedStream::start(&broker, "stream")?;
    stream.wait_for_acks(ACKS_BEFORE_KILL)?;
    broker.kill()?; // mid-stream: the producer still has records in flight
    let acked = stream.stop()?;
    assert!(acked.len() >= ACKS_BEFORE_KILL);

    broker.restart()?;
    verify(&broker, "stream", &acked)?;
    Ok(())
}
