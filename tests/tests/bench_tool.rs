//! fjord-bench, the load generator, against a real broker: it produces and consumes what it says,
//! and its `--json` line carries the figures `make bench` reads.

use std::process::Command;

use anyhow::{Context, Result};
use fjord_tests::http::Metrics;
use fjord_tests::{Broker, fjord_bin, run_ok};

fn bench(broker: &Broker, args: &[&str]) -> Result<serde_json::Value> {
    let bin = fjord_bin().with_file_name("fjord-bench");
    let out = run_ok(Command::new(bin).args(args).args(["--bootstrap", &broker.addr, "--json"]), b"")?;
    let last = out.lines().last().context("no output")?;
    serde_json::from_str(last).with_context(|| format!("last line is not JSON: {out}"))
}

fn assert_figures(summary: &serde_json::Value, latency: bool) {
    for key in ["records_per_sec", "mb_per_sec"] {
        assert!(summary[key].as_f64().is_some_and(|v| v > 0.0), "{key} in {summary}");
    }
    for key in ["p50_ms", "p99_ms", "p999_ms", "max_ms"] {
        assert_eq!(summary[key].is_number(), latency, "{key} in {summary}");
    }
}

#[test]
fn produce_consume_and_e2e_report_what_the_broker_saw() -> Result<()> {
    let broker = Broker::start()?;
    let produced =
        bench(&broker, &["produce", "--topic", "load", "--partitions", "4", "--records", "20000", "--acks", "all"])?;
    assert_eq!(produced["records"], 20_000);
    assert_eq!(produced["bytes"], 20_000 * 1024);
    assert_eq!(produced["errors"], 0);
    assert_figures(&produced, true);
    let metrics = Metrics::scrape(&broker.http)?;
    assert_eq!(metrics.get("fjord_topic_records_in_total", &[("topic", "load")]), Some(20_000.0));
    assert_eq!(metrics.sum("fjord_partition_log_end_offset", &[("topic", "load")]), 20_000.0);

    let consumed = bench(&broker, &["consume", "--topic", "load", "--records", "20000"])?;
    assert_eq!(consumed["records"], 20_000);
    assert_figures(&consumed, false);

    let e2e =
        bench(&broker, &["e2e", "--topic", "latency", "--partitions", "2", "--rate", "2000", "--records", "2000"])?;
    assert_eq!(e2e["records"], 2_000, "{e2e}");
    assert_figures(&e2e, true);
    assert!(e2e["p50_ms"].as_f64() <= e2e["max_ms"].as_f64());
    Ok(())
}
