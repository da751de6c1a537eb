//! The HTTP endpoint of a real broker: `/metrics` moves by exactly what real clients did (kcat,
//! confluent-kafka, raw requests), `/health` and `/ready` report the lifecycle, and SIGTERM in the
//! middle of a produce stream loses no acknowledged record and leaves a clean-shutdown marker.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use anyhow::{Context, Result, bail};
use bytes::Buf;
use fjord_tests::http::{Metrics, get};
use fjord_tests::raw::{fetch_request, produce_request};
use fjord_tests::stream::{AckedStream, verify};
use fjord_tests::{Broker, START_TIMEOUT, fjord_bin, kcat, python, run_ok, wait_for, wait_with_deadline};
use kafka_protocol::messages::{ApiKey, FetchResponse, ProduceResponse};
use kafka_protocol::protocol::Decodable;

const RECORDS: usize = 1_000;

fn values(n: usize) -> Vec<u8> {
    (0..n).map(|i| format!("value-{i:05}\n")).collect::<String>().into_bytes()
}

#[test]
fn metrics_move_by_what_kcat_produced_and_consumed() -> Result<()> {
    let broker = Broker::start()?;
    assert_eq!(get(&broker.http, "/health")?, (200, "ok\n".into()));
    assert_eq!(get(&broker.http, "/ready")?, (200, "ready\n".into()));
    let before = Metrics::scrape(&broker.http)?;
    assert_eq!(before.get("fjord_ready", &[]), Some(1.0));
    assert_eq!(before.get("fjord_last_shutdown_clean", &[]), Some(0.0), "a fresh data directory had no clean stop");
    let fsyncs_before = before.get("fjord_log_fsyncs_total", &[]).unwrap_or(0.0);
    assert_eq!(before.get("fjord_build_info", &[]), Some(1.0), "{}", before.text);
    assert!(before.get("fjord_startup_duration_seconds", &[]).is_some_and(|s| s > 0.0), "{}", before.text);

    run_ok(kcat(&broker.addr).args(["-P", "-t", "metered"]), &values(RECORDS))?;
    let produced = Metrics::scrape(&broker.http)?;
    let topic = [("topic", "metered")];
    let partition = [("topic", "metered"), ("partition", "0")];
    assert_eq!(produced.get("fjord_topic_records_in_total", &topic), Some(RECORDS as f64), "{}", produced.text);
    let bytes_in = produced.get("fjord_topic_bytes_in_total", &topic).context("bytes in")?;
    // Each record carries 12 value bytes; batches add headers, so more than the values and
    // no more than the segment holds.
    assert!(bytes_in > (RECORDS * 12) as f64, "bytes in {bytes_in}");
    assert_eq!(produced.get("fjord_partition_log_end_offset", &partition), Some(RECORDS as f64));
    assert_eq!(produced.get("fjord_partition_high_watermark", &partition), Some(RECORDS as f64));
    assert_eq!(produced.get("fjord_partition_log_start_offset", &partition), Some(0.0));
    assert_eq!(produced.get("fjord_partition_segments", &partition), Some(1.0));
    assert!(produced.get("fjord_partition_size_bytes", &partition).context("size")? >= bytes_in);
    assert!(produced.sum("fjord_requests_total", &[("api", "Produce")]) >= 1.0);
    assert!(produced.sum("fjord_requests_total", &[("api", "Metadata")]) >= 1.0);
    assert!(produced.get("fjord_request_duration_seconds_count", &[("api", "Produce")]).unwrap_or(0.0) >= 1.0);
    // kcat produces with acks=all: every acknowledgement waited for an fsync.
    assert!(produced.get("fjord_log_fsyncs_total", &[]).context("fsyncs")? > fsyncs_before);
    assert!(produced.get("fjord_connections_accepted_total", &[]).context("accepted")? >= 1.0);
    assert_eq!(produced.get("fjord_topic_records_out_total", &topic), Some(0.0));

    let consumed = run_ok(kcat(&broker.addr).args(["-C", "-t", "metered", "-o", "beginning", "-e", "-q"]), b"")?;
    assert_eq!(consumed.lines().count(), RECORDS);
    let after = Metrics::scrape(&broker.http)?;
    assert_eq!(after.get("fjord_topic_records_out_total", &topic), Some(RECORDS as f64), "{}", after.text);
    assert_eq!(after.get("fjord_topic_bytes_out_total", &topic), Some(bytes_in), "each batch fetched once");
    assert!(after.sum("fjord_requests_total", &[("api", "Fetch")]) >= 1.0);
    assert_eq!(after.get("fjord_topic_records_in_total", &topic), Some(RECORDS as f64), "consuming wrote nothing");
    assert!(after.get("fjord_process_resident_memory_bytes", &[]).context("rss")? > 0.0);
    assert!(after.get("fjord_process_open_fds", &[]).context("fds")? > 0.0);
    assert_eq!(after.get("fjord_cluster_brokers", &[]), Some(1.0));
    assert_eq!(after.get("fjord_cluster_offline_partitions", &[]), Some(0.0));
    // Both kcat runs have left.
    wait_for(START_TIMEOUT, || {
        Ok((Metrics::scrape(&broker.http)?.get("fjord_connections_open", &[]) == Some(0.0)).then_some(()))
    })?;
    Ok(())
}

#[test]
fn error_codes_are_counted_by_api_and_name() -> Result<()> {
    let broker = Broker::start()?;
    let mut client = broker.connect()?;
    fjord_tests::raw::create_topic(&mut client, "errors", &[])?;
    let request = produce_request("errors", 2, fjord_log::testing::simple(1_000, 1));
    let mut frame = client.request(ApiKey::Produce, 3, &request)?;
    let response = ProduceResponse::decode(&mut frame, 3)?;
    assert_eq!(response.responses[0].partition_responses[0].error_code, 21, "INVALID_REQUIRED_ACKS");
    let metrics = Metrics::scrape(&broker.http)?;
    let labels = [("api", "Produce"), ("version", "3"), ("error", "INVALID_REQUIRED_ACKS")];
    assert_eq!(metrics.get("fjord_request_errors_total", &labels), Some(1.0), "{}", metrics.text);
    assert_eq!(metrics.get("fjord_requests_total", &[("api", "Produce"), ("version", "3")]), Some(1.0));
    assert_eq!(metrics.get("fjord_topic_records_in_total", &[("topic", "errors")]), Some(0.0));
    Ok(())
}

#[test]
fn group_metrics_report_committed_offsets_and_lag() -> Result<()> {
    let broker = Broker::start_with(&["group.initial.rebalance.delay.ms=0"])?;
    run_ok(kcat(&broker.addr).args(["-P", "-t", "lagging"]), &values(RECORDS))?;
    let out = run_ok(
        python("commit_offset.py").args([
            "--bootstrap",
            &broker.addr,
            "--topic",
            "lagging",
            "--group",
            "watchers",
            "--offset",
            "400",
        ]),
        b"",
    )?;
    assert!(out.contains("committed"), "{out}");
    let metrics = Metrics::scrape(&broker.http)?;
    let at = [("group", "watchers"), ("topic", "lagging"), ("partition", "0")];
    assert_eq!(metrics.get("fjord_group_committed_offset", &at), Some(400.0), "{}", metrics.text);
    assert_eq!(metrics.get("fjord_group_lag", &at), Some((RECORDS - 400) as f64));
    assert!(metrics.get("fjord_group_rebalances_total", &[("group", "watchers")]).context("rebalances")? >= 1.0);
    assert_eq!(metrics.get("fjord_group_members", &[("group", "watchers")]), Some(0.0), "the consumer left");
    assert!(metrics.get("fjord_groups", &[("state", "Empty")]).context("groups by state")? >= 1.0);
    assert!(metrics.sum("fjord_requests_total", &[("api", "OffsetCommit")]) >= 1.0);
    assert!(metrics.sum("fjord_requests_total", &[("api", "JoinGroup")]) >= 1.0);
    Ok(())
}

#[test]
fn sigterm_mid_stream_loses_no_acknowledged_record_and_restarts_clean() -> Result<()> {
    let mut broker = Broker::start_with(&["num.partitions=2"])?;
    let mut stream = AckedStream::start(&broker, "graceful")?;
    stream.wait_for_acks(2_000)?;
    let status = broker.terminate()?;
    assert!(status.success(), "SIGTERM exit: {status}");
    let acked = stream.stop()?;

    broker.restart()?;
    let metrics = Metrics::scrape(&broker.http)?;
    assert_eq!(metrics.get("fjord_last_shutdown_clean", &[]), Some(1.0), "the restart found no clean marker");
    let stored = verify(&broker, "graceful", &acked)?;
    assert!(stored >= acked.len());
    Ok(())
}

/// Polls `/metrics` until `name` reads `value`.
fn wait_for_gauge(http: &str, name: &str, value: f64) -> Result<()> {
    wait_for(START_TIMEOUT, || Ok((Metrics::scrape(http)?.get(name, &[]) == Some(value)).then_some(())))
        .with_context(|| format!("{name} never read {value}"))
}

#[test]
fn parked_long_polls_are_counted_and_answered_when_data_arrives() -> Result<()> {
    let broker = Broker::start()?;
    let mut consumer = broker.connect()?;
    fjord_tests::raw::create_topic(&mut consumer, "parked", &[])?;
    consumer.send(ApiKey::Fetch, 4, &fetch_request("parked", 0, 60_000))?;
    wait_for_gauge(&broker.http, "fjord_fetch_waiters", 1.0)?;

    let mut producer = broker.connect()?;
    let (code, _) = fjord_tests::raw::produce(&mut producer, "parked", fjord_log::testing::simple(1_000, 3))?;
    assert_eq!(code, 0);
    let mut frame = consumer.read_frame()?;
    let _correlation = frame.get_i32();
    let response = FetchResponse::decode(&mut frame, 4)?;
    let records = response.responses[0].partitions[0].records.clone().unwrap_or_default();
    assert_eq!(fjord_log::batch::count_records(&records), 3, "the parked fetch got the new batch");
    wait_for_gauge(&broker.http, "fjord_fetch_waiters", 0.0)?;
    let metrics = Metrics::scrape(&broker.http)?;
    assert_eq!(metrics.get("fjord_topic_records_out_total", &[("topic", "parked")]), Some(3.0));
    Ok(())
}

#[test]
fn sigterm_answers_parked_long_polls_instead_of_waiting_them_out() -> Result<()> {
    // In-flight requests may take up to a minute to finish, and the fetch would wait 50 s:
    // the broker exits well within START_TIMEOUT only if shutdown answers the fetch at once.
    let mut broker = Broker::start_with(&["shutdown.timeout.ms=60000"])?;
    let mut consumer = broker.connect()?;
    fjord_tests::raw::create_topic(&mut consumer, "waiting", &[])?;
    consumer.send(ApiKey::Fetch, 4, &fetch_request("waiting", 0, 50_000))?;
    wait_for_gauge(&broker.http, "fjord_fetch_waiters", 1.0)?;
    let status = broker.terminate()?;
    assert!(status.success(), "exit status {status}");
    let mut frame = consumer.read_frame().context("the parked fetch got no answer")?;
    let _correlation = frame.get_i32();
    let response = FetchResponse::decode(&mut frame, 4)?;
    assert_eq!(response.responses[0].partitions[0].error_code, 0);
    Ok(())
}

/// A child process killed when the test ends, whatever way it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A broker process whose stdout lines arrive on a channel, so a test sees the HTTP address
/// before the Kafka listener is announced.
fn spawn_watched(data: &std::path::Path) -> Result<(Killed, mpsc::Receiver<String>)> {
    let mut child = Command::new(fjord_bin())
        .arg("serve")
        .args(["--override", "listeners=PLAINTEXT://127.0.0.1:0", "--override", "http.listener=127.0.0.1:0"])
        .args(["--override", &format!("log.dirs={}", data.display())])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok((Killed(child), rx))
}

#[test]
fn ready_is_503_until_recovery_ends_and_after_sigterm() -> Result<()> {
    let mut broker = Broker::start_with(&["log.segment.bytes=100000"])?;
    run_ok(kcat(&broker.addr).args(["-P", "-t", "recovered"]), &values(20_000))?;
    broker.kill()?; // unclean: the next start recovers the active segment

    let (mut child, lines) = spawn_watched(&broker.data)?;
    let http = loop {
        let line = lines.recv_timeout(START_TIMEOUT).context("no HTTP address announced")?;
        if let Some(addr) = line.strip_prefix("fjord http listening on ") {
            break addr.trim().to_string();
        }
    };
    // Every answer until the first 200 says the broker is still starting; none goes back.
    let mut seen = Vec::new();
    wait_for(START_TIMEOUT, || {
        let answer = get(&http, "/ready")?;
        let ready = answer.0 == 200;
        seen.push(answer);
        Ok(ready.then_some(()))
    })?;
    let (last, starting) = seen.split_last().context("no answer")?;
    assert_eq!(last, &(200, "ready\n".to_string()));
    assert!(starting.iter().all(|a| a == &(503, "starting\n".to_string())), "{starting:?}");
    let kafka = loop {
        let line = lines.recv_timeout(START_TIMEOUT).context("no Kafka address announced")?;
        if let Some(addr) = line.strip_prefix("fjord listening on ") {
            break addr.trim().to_string();
        }
    };
    let metrics = Metrics::scrape(&http)?;
    assert_eq!(metrics.get("fjord_last_shutdown_clean", &[]), Some(0.0), "recovered after SIGKILL");
    let partition = [("topic", "recovered"), ("partition", "0")];
    assert_eq!(metrics.get("fjord_partition_log_end_offset", &partition), Some(20_000.0));
    assert!(metrics.get("fjord_partition_segments", &partition).context("segments")? > 1.0);
    let consumed = run_ok(kcat(&kafka).args(["-C", "-t", "recovered", "-e", "-q"]), b"")?;
    assert_eq!(consumed.lines().count(), 20_000);

    // SIGTERM: readiness drops (503, or the endpoint already gone), then the process exits 0.
    let status = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status()?;
    if !status.success() {
        bail!("kill -TERM failed");
    }
    wait_for(START_TIMEOUT, || Ok(get(&http, "/ready").map_or(true, |(code, _)| code == 503).then_some(())))?;
    let exit = wait_with_deadline(&mut child.0, START_TIMEOUT)?;
    assert!(exit.success(), "exit after SIGTERM: {exit}");
    assert!(get(&http, "/health").is_err(), "the endpoint outlived the process");
    Ok(())
}
