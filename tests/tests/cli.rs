//! The command-line contract: `fjord serve [--config FILE] [--override key=value]...`; invalid
//! configuration is one clear line on stderr and exit code 2; SIGTERM shuts down cleanly.

use std::process::Command;

use anyhow::Result;
use fjord_tests::{Broker, fjord_bin, run};

fn refused(args: &[&str]) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let data = format!("log.dirs={}", dir.path().join("data").display());
    let out = run(Command::new(fjord_bin()).arg("serve").args(["--override", &data]).args(args), b"")?;
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
