//! An idempotent acks=all producer (confluent-kafka, tests/clients/python/acked_stream.py, or
//! kafkajs, tests/clients/node/acked_stream.js) streaming into a broker or a cluster while a test
//! stops brokers one way or another, and the check that follows: every acknowledged record is
//! stored exactly once, at the offset it was acknowledged with; nothing is stored twice; nothing
//! is stored that the producer did not send, and each partition holds its records in the order
//! they were sent. A [`LineStream`] also follows a consumer that prints what it receives.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{Broker, CLIENT_TIMEOUT, python, run_ok};

/// A client process whose stdout lines are collected as they come, each with its arrival time.
#[derive(Debug)]
pub struct LineStream {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// Lines received so far, with when they arrived.
    pub received: Vec<(Instant, String)>,
}

impl LineStream {
    /// Starts `cmd` with its stdout piped (stderr discarded).
    pub fn spawn(cmd: &mut Command) -> Result<Self> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("TEST_CLIENT_STDERR").is_some() { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .context("start the client (make test installs the clients)")?;
        let stdout = child.stdout.take().context("client stdout")?;
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, lines, reader: Some(reader), received: Vec::new() })
    }

    /// Waits until at least `n` lines arrived in all.
    pub fn wait_for_lines(&mut self, n: usize) -> Result<()> {
        while self.received.len() < n {
            match self.lines.recv_timeout(CLIENT_TIMEOUT) {
                Ok(line) => self.received.push(line),
                Err(_) => bail!("only {} lines within {CLIENT_TIMEOUT:?}", self.received.len()),
            }
        }
        Ok(())
    }

    /// Waits until `more` lines beyond those received so far arrive.
    pub fn wait_for_more(&mut self, more: usize) -> Result<()> {
        let n = self.received.len() + more;
        self.wait_for_lines(n)
    }

    /// Collects what arrived without waiting.
    pub fn drain(&mut self) {
        self.received.extend(self.lines.try_iter());
    }

    /// Kills the client and returns every line it printed before it died.
    pub fn stop(mut self) -> Result<Vec<(Instant, String)>> {
        self.child.kill()?;
        self.child.wait()?;
        // The reader ends at the client's EOF, after sending every line it printed.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.received.extend(self.lines.try_iter());
        Ok(std::mem::take(&mut self.received))
    }
}

impl Drop for LineStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The longest pause from `since` to the first line after it, or between consecutive lines
/// after it (at most the time a client took to resume after a fault at `since`).
pub fn longest_gap(lines: &[(Instant, String)], since: Instant) -> Duration {
    let mut times = vec![since];
    times.extend(lines.iter().map(|(t, _)| *t).filter(|t| *t >= since));
    times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default()
}

/// A running producer and the acknowledgements it has printed.
#[derive(Debug)]
pub struct AckedStream {
    stream: LineStream,
    /// `ack <partition> <offset> <value>` lines received so far.
    pub acked: Vec<String>,
}

impl AckedStream {
    /// Starts streaming into `topic` (records alternate between partitions 0 and 1).
    pub fn start(broker: &Broker, topic: &str) -> Result<Self> {
        Self::spawn(python("acked_stream.py").args(["--bootstrap", &broker.addr, "--topic", topic]))
    }

    /// Starts a producer that prints `ack <partition> <offset> <value>` per acknowledgement.
    pub fn spawn(cmd: &mut Command) -> Result<Self> {
        Ok(Self { stream: LineStream::spawn(cmd)?, acked: Vec::new() })
    }

    /// Waits until at least `n` records are acknowledged.
    pub fn wait_for_acks(&mut self, n: usize) -> Result<()> {
        self.stream.wait_for_lines(n)?;
        self.acked = self.stream.received.iter().map(|(_, l)| l.clone()).collect();
        Ok(())
    }

    /// Waits until `more` records beyond those acknowledged so far are.
    pub fn wait_for_more(&mut self, more: usize) -> Result<()> {
        self.stream.drain();
        let n = self.stream.received.len() + more;
        self.wait_for_acks(n)
    }

    /// The longest time between two acknowledgements after `since`.
    pub fn longest_gap(&mut self, since: Instant) -> Duration {
        self.stream.drain();
        longest_gap(&self.stream.received, since)
    }

    /// Kills the producer and returns every acknowledgement it printed before it died.
    pub fn stop(self) -> Result<Vec<String>> {
        Ok(self.stream.stop()?.into_iter().map(|(_, l)| l).collect())
    }
}

/// Reads `topic` (two partitions) back and checks `acked` against it: each acknowledged record
/// stored once, where it was acknowledged; no record stored twice. Returns the stored count.
pub fn verify(broker: &Broker, topic: &str, acked: &[String]) -> Result<usize> {
    verify_at(&broker.addr, topic, 2, acked)
}

/// [`verify`] through `bootstrap` for a topic of `partitions`; also checks that every stored
/// record is one the producer sent (`rec-<n>`) and that each partition holds them in the order
/// they were sent (an idempotent producer's guarantee).
pub fn verify_at(bootstrap: &str, topic: &str, partitions: u32, acked: &[String]) -> Result<usize> {
    let dump = run_ok(
        python("dump.py").args(["--bootstrap", bootstrap, "--topic", topic, "--partitions", &partitions.to_string()]),
        b"",
    )?;
    let mut stored: HashMap<String, Vec<(u32, i64)>> = HashMap::new();
    let mut last_sent: HashMap<u32, u64> = HashMap::new();
    for line in dump.lines() {
        let mut f = line.splitn(3, ' ');
        let (p, o, v) = (f.next(), f.next(), f.next());
        let (Some(p), Some(o), Some(v)) = (p, o, v) else { bail!("bad dump line {line:?}") };
        let p: u32 = p.parse()?;
        let n: u64 =
            v.strip_prefix("rec-").and_then(|n| n.parse().ok()).with_context(|| format!("{v:?} was never sent"))?;
        if let Some(before) = last_sent.insert(p, n) {
            anyhow::ensure!(before < n, "partition {p} holds rec-{n} after rec-{before}");
        }
        stored.entry(v.to_string()).or_default().push((p, o.parse()?));
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
