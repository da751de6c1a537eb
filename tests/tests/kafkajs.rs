//! kafkajs (Node.js) against a real broker: admin create/list/describe/delete topics, topic
//! offsets latest, earliest and by timestamp, and an acks=all keyed produce.

use anyhow::Result;
use fjord_tests::{Broker, node, run_ok};

#[test]
fn kafkajs_admin_and_produce() -> Result<()> {
    let broker = Broker::start()?;
    let out = run_ok(node("admin.js").args([&broker.addr, "kafkajs-topic"]), b"")?;
    assert!(out.contains("ok kafkajs admin and produce"), "{out}");
    Ok(())
}
