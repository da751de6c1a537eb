//! An idempotent acks=all producer (confluent-kafka, tests/clients/python/acked_stream.py)
//! streaming into a broker while a test stops it one way or another, and the check that
//! follows: every acknowledged record is stored exactly once, at the offset it was acknowledged
//! with, and nothing is stored twice.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;

use anyhow::{Context, Result, bail};

use crate::{Broker, CLIENT_TIMEOUT, python, run_ok};

/// A running producer and the acknowledgements it has printed.
#[derive(Debug)]
pub struct AckedStream {
    producer: Child,
    lines: mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// `ack <partition> <offset> <value>` lines received so far.
    pub acked: Vec<String>,
}

impl AckedStream {
    /// Starts streaming into `topic` (records alternate between partitions 0 and 1).
    pub fn start(broker: &Broker, topic: &str) -> Result<Self> {
        let mut producer = python("acked_stream.py")
            .args(["--bootstrap", &broker.addr, "--topic", topic])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("start the producer (make test installs confluent-kafka)")?;
        let stdout = producer.stdout.take().context("producer stdout")?;
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { producer, lines, reader: Some(reader), acked: Vec::new() })
    }

    /// Waits until at least `n` records are acknowledged.
    pub fn wait_for_acks(&mut self, n: usize) -> Result<()> {
        while self.acked.len() < n {
            match self.lines.recv_timeout(CLIENT_TIMEOUT) {
                Ok(line) => self.acked.push(line),
                Err(_) => bail!("only {} acknowledgements within {CLIENT_TIMEOUT:?}", self.acked.len()),
            }
        }
        Ok(())
    }

    /// Kills the producer and returns every acknowledgement it printed before it died.
    pub fn stop(mut self) -> Result<Vec<String>> {
        self.producer.kill()?;
        self.producer.wait()?;
        // The reader ends at the producer's EOF, after sending every line it printed.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.acked.extend(self.lines.try_iter());
        Ok(std::mem::take(&mut self.acked))
    }
}

impl Drop for AckedStream {
    fn drop(&mut self) {
        let _ = self.producer.kill();
        let _ = self.producer.wait();
    }
}

/// Reads `topic` (two partitions) back and checks `acked` against it: each acknowledged record
/// stored once, where it was acknowledged; no record stored twice. Returns the stored count.
pub fn verify(broker: &Broker, topic: &str, acked: &[String]) -> Result<usize> {
    let dump =
        run_ok(python("dump.py").args(["--bootstrap", &broker.addr, "--topic", topic, "--partitions", "2"]), b"")?;
    let mut stored: HashMap<String, Vec<(u32, i64)>> = HashMap::new();
    for line in dump.lines() {
        let mut f = line.splitn(3, ' ');
        let (p, o, v) = (f.next(), f.next(), f.next());
        let (Some(p), Some(o), Some(v)) = (p, o, v) else { bail!("bad dump line {line:?}") };
        stored.entry(v.to_string()).or_default().push((p.parse()?, o.parse()?));
    }
    let twice: Vec<_> = stored.iter().filter(|(_, at)| at.len() > 1).collect();
    anyhow::ensure!(twice.is_empty(), "records stored more than once: {twice:?}");
    for line in acked {
        let f: Vec<&str> = line.splitn(4, ' ').collect();
        let ["ack", p, o, v] = f[..] else { bail!("bad ack line {line:?}") };
        let at = stored.get(v).with_context(|| format!("acknowledged record {v} lost"))?;
        anyhow::ensure!(at[0] == (p.parse()?, o.parse()?), "{v} acknowledged at {p}/{o}, stored at {:?}", at[0]);
    }
    Ok(stored.len())
}
