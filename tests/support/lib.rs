//! Test support: start the real `fjord` binary on an ephemeral port with a temporary data
//! directory, stop it gracefully or kill it, restart it on the same data, run external Kafka
//! clients against it, and speak raw Kafka protocol for the bad-input tests.
//!
//! The binary is the one cargo built beside the test executables (`make test` builds it first);
//! `FJORD_BIN` overrides the path.

pub mod cluster;
pub mod http;
pub mod raw;
pub mod stream;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::{Buf, Bytes};
use fjord_protocol::ClientCodec;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Encodable;

/// How long a broker may take to start, and an external client to finish, before a test fails.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// Path of the `fjord` binary under test.
pub fn fjord_bin() -> PathBuf {
    if let Ok(p) = std::env::var("FJORD_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test-exe> → target/<profile>/fjord
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    profile_dir.join("fjord")
}

/// The repository root (for client scripts under tests/clients). Read at run time: cargo and
/// nextest set `CARGO_MANIFEST_DIR` for the checkout being tested, while the compile-time value
/// can name another checkout that shares the target directory.
pub fn repo_root() -> PathBuf {
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest.parent().expect("repo root").to_path_buf()
}

/// A running broker process with its own data directory.
#[derive(Debug)]
pub struct Broker {
    child: Option<Child>,
    pub addr: String,
    /// The HTTP endpoint (`/metrics`, `/health`, `/ready`).
    pub http: String,
    pub data: PathBuf,
    overrides: Vec<String>,
    file_limit: Option<u64>,
    _tmp: Option<tempfile::TempDir>,
}

impl Broker {
    /// Starts a broker on a fresh temporary data directory.
    pub fn start() -> Result<Self> {
        Self::start_with(&[])
    }

    /// Starts a broker with extra `--override key=value` settings.
    pub fn start_with(overrides: &[&str]) -> Result<Self> {
        Self::launch(overrides, None)
    }

    /// Starts a broker that cannot grow any file past `bytes` (RLIMIT_FSIZE, with SIGXFSZ
    /// ignored so writes fail with EFBIG): a full disk, as the broker's writes see it.
    pub fn start_with_file_limit(bytes: u64, overrides: &[&str]) -> Result<Self> {
        Self::launch(overrides, Some(bytes))
    }

    /// A broker process started on `data` (not yet serving) with `overrides`, and where it will
    /// report its addresses; [`Broker::serving`] waits for them.
    pub(crate) fn unstarted(data: PathBuf, overrides: Vec<String>) -> Result<(Child, Addresses, Self)> {
        let (child, addresses) = launch_process(&data, &overrides, None)?;
        let broker = Self {
            child: None,
            addr: String::new(),
            http: String::new(),
            data,
            overrides,
            file_limit: None,
            _tmp: None,
        };
        Ok((child, addresses, broker))
    }

    /// Completes [`Broker::unstarted`] once the process serves.
    pub(crate) fn serving(&mut self, child: Child, addresses: &Addresses) -> Result<()> {
        let (child, addr, http) = await_addresses(child, addresses)?;
        self.child = Some(child);
        self.addr = addr;
        self.http = http;
        Ok(())
    }

    /// Whether the process is running (not killed or stopped by the test).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn launch(overrides: &[&str], file_limit: Option<u64>) -> Result<Self> {
        let tmp = tempfile::tempdir()?;
        let data = tmp.path().join("data");
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let (child, addr, http) = spawn(&data, &overrides, file_limit)?;
        Ok(Self { child: Some(child), addr, http, data, overrides, file_limit, _tmp: Some(tmp) })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL: no shutdown work at all, like a power cut for the process.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("broker not running")?;
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        wait_with_deadline(&mut child, START_TIMEOUT)
    }

    /// Starts the broker again on the same data directory (a new port).
    pub fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            self.terminate()?;
        }
        let (child, addr, http) = spawn(&self.data, &self.overrides, self.file_limit)?;
        self.child = Some(child);
        self.addr = addr;
        self.http = http;
        Ok(())
    }

    /// A raw protocol connection.
    pub fn connect(&self) -> Result<RawClient> {
        RawClient::connect(&self.addr)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Starts the binary; returns it with its Kafka and HTTP addresses.
fn spawn(data: &Path, overrides: &[String], file_limit: Option<u64>) -> Result<(Child, String, String)> {
    let (child, addresses) = launch_process(data, overrides, file_limit)?;
    await_addresses(child, &addresses)
}

/// What a starting broker prints once it serves: its Kafka and HTTP addresses.
type Addresses = mpsc::Receiver<(String, String)>;

/// Starts the binary without waiting for it to serve (a cluster node serves only once a quorum
/// of its peers is up).
fn launch_process(data: &Path, overrides: &[String], file_limit: Option<u64>) -> Result<(Child, Addresses)> {
    let bin = fjord_bin();
    let mut cmd = match file_limit {
        None => Command::new(&bin),
        Some(bytes) => {
            // The shell's ignored SIGXFSZ and lowered limit survive its exec into the broker.
            let mut sh = Command::new("sh");
            sh.args(["-c", "trap '' XFSZ; ulimit -f \"$1\"; shift; exec \"$@\"", "sh"])
                .arg((bytes / 512).to_string())
                .arg(&bin);
            sh
        }
    };
    cmd.arg("serve")
        .args(["--override", "listeners=PLAINTEXT://127.0.0.1:0"])
        .args(["--override", "http.listener=127.0.0.1:0"])
        .args(["--override", &format!("log.dirs={}", data.display())]);
    for o in overrides {
        cmd.args(["--override", o]);
    }
    let mut child = cmd
        // openraft reports every unreachable peer at warn, twice a second: the cluster tests kill
        // peers on purpose.
        .env("RUST_LOG", std::env::var("FJORD_TEST_LOG").unwrap_or_else(|_| "warn,openraft=off".into()))
        // The broker reads FJORD_* variables as properties; these two are the test harness's.
        .env_remove("FJORD_TEST_LOG")
        .env_remove("FJORD_BIN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {} (build it with `cargo build --bins`)", bin.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut http = String::new();
        while let Some(Ok(line)) = lines.next() {
            if let Some(addr) = line.strip_prefix("fjord http listening on ") {
                http = addr.trim().to_string();
            } else if let Some(addr) = line.strip_prefix("fjord listening on ") {
                let _ = tx.send((addr.trim().to_string(), http.clone()));
            }
        }
    });
    Ok((child, rx))
}

/// Waits for a launched broker to report its addresses.
fn await_addresses(mut child: Child, addresses: &Addresses) -> Result<(Child, String, String)> {
    match addresses.recv_timeout(START_TIMEOUT) {
        Ok((addr, http)) => Ok((child, addr, http)),
        Err(_) => {
            let _ = child.kill();
            let status = child.wait()?;
            bail!("broker did not report its address within {START_TIMEOUT:?} (exit: {status})")
        }
    }
}

/// Waits for a child to exit, failing after `limit`.
pub fn wait_with_deadline(child: &mut Child, limit: Duration) -> Result<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("process {} still running after {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs an external command to completion with a deadline, feeding it `stdin`.
pub fn run(cmd: &mut Command, stdin: &[u8]) -> Result<Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {cmd:?}: is it installed? (`make test` installs it)"))?;
    let mut input = child.stdin.take().context("stdin")?;
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().context("stdout")?;
    let mut err = child.stderr.take().context("stderr")?;
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = wait_with_deadline(&mut child, CLIENT_TIMEOUT)?;
    let _ = writer.join();
    Ok(Output { status, stdout: out_reader.join().unwrap_or_default(), stderr: err_reader.join().unwrap_or_default() })
}

/// Runs an external command and fails with its output unless it exits 0.
pub fn run_ok(cmd: &mut Command, stdin: &[u8]) -> Result<String> {
    let out = run(cmd, stdin)?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The largest response frame a test reads (a fetch of a test's records stays far below it).
const MAX_RESPONSE: usize = 256 * 1024 * 1024;

/// A blocking raw Kafka protocol connection, for tests that send what no client would. Requests
/// are framed by the same [`ClientCodec`] the broker's own clients use.
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
    codec: ClientCodec,
}

impl RawClient {
    pub fn connect(addr: &str) -> Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self { stream, codec: ClientCodec::new("fjord-tests", MAX_RESPONSE) })
    }

    /// Sends raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    /// Sends a request and returns the response frame after the correlation id (the response
    /// header's tagged fields, if any, are left for the caller).
    pub fn request<T: Encodable>(&mut self, key: ApiKey, version: i16, body: &T) -> Result<Bytes> {
        self.send(key, version, body)?;
        let mut frame = self.read_frame()?;
        let correlation = frame.get_i32();
        if correlation != self.codec.correlation_id() {
            bail!("correlation id {correlation}, expected {}", self.codec.correlation_id());
        }
        Ok(frame)
    }

    /// Sends a request without waiting for a response (Produce with acks=0 gets none).
    pub fn send<T: Encodable>(&mut self, key: ApiKey, version: i16, body: &T) -> Result<()> {
        let frame = self.codec.encode(key, version, body)?;
        self.stream.write_all(&frame)?;
        Ok(())
    }

    /// Reads one response frame.
    pub fn read_frame(&mut self) -> Result<Bytes> {
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix)?;
        let mut frame = vec![0u8; self.codec.response_len(prefix)?];
        self.stream.read_exact(&mut frame)?;
        Ok(Bytes::from(frame))
    }

    /// True once the broker has closed this connection (reads EOF or reset within the timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0) | Err(_))
    }
}

/// Debian's kcat (librdkafka 2.0.2) talking to the broker at `addr`. The environment's
/// `LD_LIBRARY_PATH` is dropped: test runners point it at build directories, where the bench
/// tool's own librdkafka build would otherwise replace the one kcat was built against.
pub fn kcat(addr: &str) -> Command {
    let mut cmd = Command::new("kcat");
    cmd.env_remove("LD_LIBRARY_PATH").args(["-b", addr]);
    cmd
}

/// A command running one of the Python client programs under tests/clients/python, with the
/// interpreter of the virtualenv `make test` prepares (`FJORD_PYTHON` overrides it).
pub fn python(script: &str) -> Command {
    let root = repo_root();
    let interpreter = std::env::var_os("FJORD_PYTHON").map_or_else(|| root.join(".venv/bin/python"), PathBuf::from);
    let mut cmd = Command::new(interpreter);
    cmd.env_remove("LD_LIBRARY_PATH").arg(root.join("tests/clients/python").join(script));
    cmd
}

/// A command running one of the Node.js client programs under tests/clients/node.
pub fn node(script: &str) -> Command {
    let mut cmd = Command::new("node");
    cmd.env_remove("LD_LIBRARY_PATH").arg(repo_root().join("tests/clients/node").join(script));
    cmd
}

/// Polls `probe` until it yields a value, failing after `limit`.
pub fn wait_for<T>(limit: Duration, mut probe: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe()? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("condition not met within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
