//! SIGKILL during an acks=all stream: after a restart every acknowledged record is there,
//! exactly once, at the offset it was acknowledged with.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;

use anyhow::{Context, Result, bail};
use fjord_tests::{Broker, CLIENT_TIMEOUT, python, run_ok};

const ACKS_BEFORE_KILL: usize = 3_000;

#[test]
fn acknowledged_records_survive_sigkill_exactly_once() -> Result<()> {
    let mut broker = Broker::start_with(&["num.partitions=2"])?;
    let mut producer = python("acked_stream.py")
        .args(["--bootstrap", &broker.addr, "--topic", "stream"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("start the producer (make test installs confluent-kafka)")?;
    let stdout = producer.stdout.take().context("producer stdout")?;
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut acked = Vec::new();
    while acked.len() < ACKS_BEFORE_KILL {
        match rx.recv_timeout(CLIENT_TIMEOUT) {
            Ok(line) => acked.push(line),
            Err(_) => {
                let _ = producer.kill();
                bail!("only {} acknowledgements within {CLIENT_TIMEOUT:?}", acked.len());
            }
        }
    }
    broker.kill()?; // mid-stream: the producer still has records in flight
    producer.kill()?;
    producer.wait()?;
    acked.extend(rx.iter()); // everything it printed before it died
    let _ = reader.join();

    broker.restart()?;
    let dump =
        run_ok(python("dump.py").args(["--bootstrap", &broker.addr, "--topic", "stream", "--partitions", "2"]), b"")?;
    let mut stored: HashMap<String, Vec<(u32, i64)>> = HashMap::new();
    for line in dump.lines() {
        let mut f = line.splitn(3, ' ');
        let (p, o, v) = (f.next(), f.next(), f.next());
        let (Some(p), Some(o), Some(v)) = (p, o, v) else { bail!("bad dump line {line:?}") };
        stored.entry(v.to_string()).or_default().push((p.parse()?, o.parse()?));
    }
    let twice: Vec<_> = stored.iter().filter(|(_, at)| at.len() > 1).collect();
    assert!(twice.is_empty(), "records stored more than once: {twice:?}");
    assert!(acked.len() >= ACKS_BEFORE_KILL);
    for line in &acked {
        let f: Vec<&str> = line.splitn(4, ' ').collect();
        let ["ack", p, o, v] = f[..] else { bail!("bad ack line {line:?}") };
        let at = stored.get(v).with_context(|| format!("acknowledged record {v} lost"))?;
        assert_eq!(at[0], (p.parse()?, o.parse()?), "{v} moved");
    }
    Ok(())
}
