//! The broker's HTTP endpoint from a test: a plain HTTP/1.1 GET, and `/metrics` parsed into
//! samples that can be looked up by name and labels.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result};

/// GET `path` from `addr`: (status, body).
pub fn get(addr: &str, path: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connect to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let status = text.split(' ').nth(1).context("no status line")?.parse().context("status code")?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// One sample line: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// One scrape of `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    samples: Vec<Sample>,
    pub text: String,
}

impl Metrics {
    pub fn scrape(addr: &str) -> Result<Self> {
        let (status, text) = get(addr, "/metrics")?;
        anyhow::ensure!(status == 200, "/metrics answered {status}");
        Ok(Self::parse(text))
    }

    fn parse(text: String) -> Self {
        let mut samples = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), Vec::new()),
                Some((name, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split("\",")
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.trim_start_matches(',').to_string(), v.trim_matches('"').to_string()))
                        .collect();
                    (name.to_string(), labels)
                }
            };
            samples.push((name, labels, value));
        }
        Self { samples, text }
    }

    /// The value of the sample named `name` carrying all of `labels` (others may be present).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.matching(name, labels).next()
    }

    /// The sum over every sample named `name` carrying all of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).sum()
    }

    fn matching<'a>(&'a self, name: &'a str, labels: &'a [(&str, &str)]) -> impl Iterator<Item = f64> + 'a {
        self.samples
            .iter()
            .filter(move |(n, ls, _)| {
                n == name && labels.iter().all(|(k, v)| ls.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|s| s.2)
    }
}
