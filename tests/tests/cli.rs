//! The command-line contract: `fjord serve [--config FILE] [--override key=value]...`; invalid
//! configuration is one clear line on stderr and exit code 2; SIGTERM shuts down cleanly.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use fjord_tests::{Broker, START_TIMEOUT, fjord_bin, run, wait_with_deadline};

fn refused(args: &[&str]) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let data = format!("log.dirs={}", dir.path().join("data").display());
    let out =
        run(Command::new(fjord_bin()).env_remove("RUST_LOG").arg("serve").args(["--override", &data]).args(args), b"")?;
    assert_eq!(out.status.code(), Some(2), "{args:?} should be refused");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("fjord: invalid configuration"), "{stderr}");
    Ok(stderr)
}

#[test]
fn invalid_configuration_is_one_line_and_exit_code_2() -> Result<()> {
    assert!(refused(&["--override", "no.such.property=1"])?.contains("no.such.property"));
    assert!(refused(&["--override", "num.partitions=zero"])?.contains("num.partitions"));
    assert!(refused(&["--override", "listeners=nonsense"])?.contains("listeners"));
    assert!(refused(&["--override", "missing-equals-sign"])?.contains("missing-equals-sign"));
    assert!(refused(&["--config", "/nonexistent/fjord.toml"])?.contains("fjord.toml"));
    assert!(refused(&["--override", "log.format=xml"])?.contains("log.format"));
    assert!(refused(&["--override", "log.level=fjord=loudest"])?.contains("log.level"));
    assert!(refused(&["--override", "http.listener=port-9644"])?.contains("http.listener"));
    Ok(())
}

#[test]
fn json_logs_are_one_object_per_line() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(fjord_bin())
        .env_remove("RUST_LOG")
        .arg("serve")
        .args(["--override", &format!("log.dirs={}", dir.path().join("data").display())])
        .args(["--override", "listeners=PLAINTEXT://127.0.0.1:0", "--override", "http.listener=127.0.0.1:0"])
        .args(["--override", "log.format=json", "--override", "log.level=info"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = BufReader::new(child.stdout.take().context("stdout")?);
    let announced = stdout.lines().map_while(Result::ok).any(|l| l.starts_with("fjord listening on "));
    assert!(announced, "the broker never announced its listener");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    let status = wait_with_deadline(&mut child, START_TIMEOUT)?;
    assert!(status.success(), "exit status {status}");
    let mut stderr = String::new();
    child.stderr.take().context("stderr")?.read_to_string(&mut stderr)?;
    let lines: Vec<serde_json::Value> =
        stderr.lines().map(serde_json::from_str).collect::<Result<_, _>>().with_context(|| stderr.clone())?;
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    for expected in ["broker ready", "shutting down", "shutdown complete"] {
        assert!(messages.contains(&expected), "no {expected:?} in {messages:?}");
    }
    assert!(lines.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string()), "{stderr}");
    Ok(())
}

#[test]
fn sigterm_shuts_down_cleanly_and_data_survives() -> Result<()> {
    let mut broker = Broker::start()?;
    let status = broker.terminate()?;
    assert!(status.success(), "exit status {status}");
    assert!(broker.data.join(".fjord_clean_shutdown").exists());
    broker.restart()?;
    Ok(())
}
