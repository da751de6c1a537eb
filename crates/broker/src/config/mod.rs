//! Broker configuration: Kafka property names, read from defaults, then a TOML or `.properties`
//! file, then `FJORD_…` environment variables, then `--override key=value` flags, each layer
//! overriding the one before. [`BrokerConfig::from_properties`] validates everything at start and
//! names the offending property in its error.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A configuration problem, phrased for the operator who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("unknown property '{0}' (see docs/configuration.md for the supported ones)")]
    Unknown(String),
    #[error("property '{key}' = '{value}': {reason}")]
    Invalid { key: String, value: String, reason: String },
    #[error("override '{0}' is not of the form key=value")]
    Override(String),
}

mod properties;

pub use properties::{PROPERTIES, PropertyDef};

/// The transaction coordinator's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionConfig {
    /// `transaction.state.log.num.partitions`.
    pub partitions: i32,
    /// `transaction.state.log.replication.factor` as configured (capped at the voters on use).
    pub replication_factor: i32,
    /// `transaction.state.log.min.isr` as configured (capped at the replication factor on use).
    pub min_isr: i32,
    pub max_timeout_ms: i64,
    pub id_expiration_ms: i64,
    pub abort_interval_ms: u64,
    pub expiry_interval_ms: u64,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The validated broker configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub node_id: i32,
    pub listener: SocketAddr,
    /// The Raft listener (`CONTROLLER://` in `listeners`); required when there are voters.
    pub controller_listener: Option<SocketAddr>,
    /// `controller.quorum.voters`: id → `host:port`; empty for a cluster of one.
    pub voters: BTreeMap<i32, String>,
    pub rack: Option<String>,
    pub heartbeat_interval_ms: u64,
    pub session_timeout_ms: u64,
    pub advertised: Option<(String, u16)>,
    pub data_dir: PathBuf,
    pub num_partitions: i32,
    pub default_replication_factor: i32,
    pub auto_create_topics: bool,
    pub retention_check_interval_ms: u64,
    pub flush_every_ack: bool,
    pub socket_request_max_bytes: usize,
    pub shutdown_timeout_ms: u64,
    /// The HTTP endpoint's address; `None` when disabled.
    pub http_listener: Option<SocketAddr>,
    pub log_format: LogFormat,
    pub log_level: String,
    /// Group coordinator settings (`group.*`).
    pub group: fjord_group::Config,
    pub offsets_topic_partitions: i32,
    /// `offsets.topic.replication.factor` as configured (capped at the voter count on use).
    pub offsets_topic_replication_factor: i32,
    pub offsets_retention_ms: i64,
    pub replica_lag_time_max_ms: i64,
    pub replica_fetch_wait_max_ms: i32,
    pub replica_fetch_max_bytes: i32,
    /// `leader.imbalance.check.interval.seconds` when `auto.leader.rebalance.enable` is on.
    pub leader_rebalance_interval_ms: Option<u64>,
    pub controlled_shutdown: bool,
    /// Transaction coordinator settings (`transaction.*`).
    pub transactions: TransactionConfig,
    /// Every property with its effective value, and whether it was set explicitly.
    pub values: BTreeMap<&'static str, (String, bool)>,
}

impl BrokerConfig {
    /// The embedded default: one broker on 127.0.0.1:9092 with data in ./data.
    pub fn embedded_default() -> Self {
        Self::from_properties(BTreeMap::new()).expect("defaults are valid")
    }

    /// Builds and validates a configuration from explicitly set properties.
    pub fn from_properties(set: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut values: BTreeMap<&'static str, (String, bool)> =
            PROPERTIES.iter().map(|p| (p.name, (p.default.to_string(), false))).collect();
        for (key, value) in set {
            let def = PROPERTIES.iter().find(|p| p.name == key).ok_or_else(|| ConfigError::Unknown(key.clone()))?;
            values.insert(def.name, (value.trim().to_string(), true));
        }
        let get = |k: &str| values[k].0.clone();
        let listeners = parse_listeners("listeners", &get("listeners"))?;
        let listener = listeners
            .get("PLAINTEXT")
            .copied()
            .ok_or_else(|| invalid("listeners", &get("listeners"), "a PLAINTEXT://host:port listener is required"))?;
        let advertised = match get("advertised.listeners").as_str() {
            "" => None,
            v => {
                // Only the client listener is advertised; a CONTROLLER entry is the voters' business.
                let client = v.split(',').map(str::trim).find(|l| !l.starts_with("CONTROLLER://")).unwrap_or(v);
                let (host, port) = split_listener("advertised.listeners", client)?;
                Some((host, port))
            }
        };
        let voters = parse_voters("controller.quorum.voters", &get("controller.quorum.voters"))?;
        let config = Self {
            node_id: parse_num("node.id", &get("node.id"), 0..=i32::MAX as i64)? as i32,
            listener,
            controller_listener: listeners.get("CONTROLLER").copied(),
            voters,
            rack: Some(get("broker.rack")).filter(|r| !r.is_empty()),
            heartbeat_interval_ms: parse_num(
                "broker.heartbeat.interval.ms",
                &get("broker.heartbeat.interval.ms"),
                10..=i64::from(i32::MAX),
            )? as u64,
            session_timeout_ms: parse_num(
                "broker.session.timeout.ms",
                &get("broker.session.timeout.ms"),
                100..=i64::from(i32::MAX),
            )? as u64,
            advertised,
            data_dir: PathBuf::from(non_empty("log.dirs", &get("log.dirs"))?),
            num_partitions: parse_num("num.partitions", &get("num.partitions"), 1..=100_000)? as i32,
            default_replication_factor: parse_num(
                "default.replication.factor",
                &get("default.replication.factor"),
                1..=32,
            )? as i32,
            auto_create_topics: parse_bool("auto.create.topics.enable", &get("auto.create.topics.enable"))?,
            retention_check_interval_ms: parse_num(
                "log.retention.check.interval.ms",
                &get("log.retention.check.interval.ms"),
                1..=i64::MAX,
            )? as u64,
            flush_every_ack: parse_num(
                "log.flush.interval.messages",
                &get("log.flush.interval.messages"),
                1..=i64::MAX,
            )? == 1,
            socket_request_max_bytes: parse_num(
                "socket.request.max.bytes",
                &get("socket.request.max.bytes"),
                1024..=i32::MAX as i64,
            )? as usize,
            shutdown_timeout_ms: parse_num("shutdown.timeout.ms", &get("shutdown.timeout.ms"), 0..=i64::MAX)? as u64,
            http_listener: match get("http.listener").as_str() {
                "" => None,
                v => Some(parse_socket_addr("http.listener", v)?),
            },
            log_format: match get("log.format").as_str() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                v => return Err(invalid("log.format", v, "must be pretty or json")),
            },
            log_level: non_blank("log.level", &get("log.level"))?,
            group: fjord_group::Config {
                initial_rebalance_delay_ms: parse_num(
                    "group.initial.rebalance.delay.ms",
                    &get("group.initial.rebalance.delay.ms"),
                    0..=i64::from(i32::MAX),
                )?,
                min_session_timeout_ms: parse_num(
                    "group.min.session.timeout.ms",
                    &get("group.min.session.timeout.ms"),
                    1..=i64::from(i32::MAX),
                )? as i32,
                max_session_timeout_ms: parse_num(
                    "group.max.session.timeout.ms",
                    &get("group.max.session.timeout.ms"),
                    1..=i64::from(i32::MAX),
                )? as i32,
            },
            offsets_topic_partitions: parse_num(
                "offsets.topic.num.partitions",
                &get("offsets.topic.num.partitions"),
                1..=100_000,
            )? as i32,
            offsets_topic_replication_factor: parse_num(
                "offsets.topic.replication.factor",
                &get("offsets.topic.replication.factor"),
                1..=32,
            )? as i32,
            replica_lag_time_max_ms: parse_num(
                "replica.lag.time.max.ms",
                &get("replica.lag.time.max.ms"),
                100..=i64::from(i32::MAX),
            )?,
            replica_fetch_wait_max_ms: parse_num(
                "replica.fetch.wait.max.ms",
                &get("replica.fetch.wait.max.ms"),
                0..=60_000,
            )? as i32,
            replica_fetch_max_bytes: parse_num(
                "replica.fetch.max.bytes",
                &get("replica.fetch.max.bytes"),
                1024..=i64::from(i32::MAX),
            )? as i32,
            leader_rebalance_interval_ms: match parse_bool(
                "auto.leader.rebalance.enable",
                &get("auto.leader.rebalance.enable"),
            )? {
                true => Some(
                    parse_num(
                        "leader.imbalance.check.interval.seconds",
                        &get("leader.imbalance.check.interval.seconds"),
                        1..=i64::from(i32::MAX),
                    )? as u64
                        * 1000,
                ),
                false => None,
            },
            controlled_shutdown: parse_bool("controlled.shutdown.enable", &get("controlled.shutdown.enable"))?,
            transactions: TransactionConfig {
                partitions: parse_num(
                    "transaction.state.log.num.partitions",
                    &get("transaction.state.log.num.partitions"),
                    1..=100_000,
                )? as i32,
                replication_factor: parse_num(
                    "transaction.state.log.replication.factor",
                    &get("transaction.state.log.replication.factor"),
                    1..=32,
                )? as i32,
                min_isr: parse_num("transaction.state.log.min.isr", &get("transaction.state.log.min.isr"), 1..=32)?
                    as i32,
                max_timeout_ms: parse_num(
                    "transaction.max.timeout.ms",
                    &get("transaction.max.timeout.ms"),
                    1..=i64::from(i32::MAX),
                )?,
                id_expiration_ms: parse_num(
                    "transactional.id.expiration.ms",
                    &get("transactional.id.expiration.ms"),
                    1..=i64::from(i32::MAX),
                )?,
                abort_interval_ms: parse_num(
                    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                    &get("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
                    1..=i64::from(i32::MAX),
                )? as u64,
                expiry_interval_ms: parse_num(
                    "transaction.remove.expired.transaction.cleanup.interval.ms",
                    &get("transaction.remove.expired.transaction.cleanup.interval.ms"),
                    1..=i64::from(i32::MAX),
                )? as u64,
            },
            offsets_retention_ms: parse_num(
                "offsets.retention.minutes",
                &get("offsets.retention.minutes"),
                1..=i64::MAX / 60_000,
            )? * 60_000,
            values,
        };
        if !config.voters.is_empty() {
            let voters = config.value("controller.quorum.voters");
            if !config.voters.contains_key(&config.node_id) {
                let why =
                    format!("node.id {} is not among the voters (every node is broker and controller)", config.node_id);
                return Err(invalid("controller.quorum.voters", &voters, &why));
            }
            if config.controller_listener.is_none() {
                let why = "a cluster node needs a CONTROLLER://host:port listener for Raft";
                return Err(invalid("listeners", &config.value("listeners"), why));
            }
        }
        if config.replica_fetch_wait_max_ms as i64 >= config.replica_lag_time_max_ms {
            let why = "must be shorter than replica.lag.time.max.ms, or followers drop out of the ISR while they wait";
            return Err(invalid("replica.fetch.wait.max.ms", &config.value("replica.fetch.wait.max.ms"), why));
        }
        if config.heartbeat_interval_ms >= config.session_timeout_ms {
            let why = "must be shorter than broker.session.timeout.ms";
            return Err(invalid("broker.heartbeat.interval.ms", &config.value("broker.heartbeat.interval.ms"), why));
        }
        // Topic defaults are validated by the same rules as topic configs.
        config.topic_defaults().map_err(|(key, value, reason)| ConfigError::Invalid { key, value, reason })?;
        Ok(config)
    }

    /// The broker-level defaults of every topic config (`log.retention.ms` for `retention.ms`…).
    pub fn topic_defaults(&self) -> Result<crate::topic_config::TopicDefaults, (String, String, String)> {
        crate::topic_config::TopicDefaults::resolve(|name| (self.value(name), self.is_set(name)))
    }

    /// The effective value of a property (its default when not set).
    pub fn value(&self, name: &str) -> String {
        self.values.get(name).map(|v| v.0.clone()).unwrap_or_default()
    }

    /// Whether a property was set explicitly (file, environment or override).
    pub fn is_set(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| v.1)
    }
}

/// Collects properties from a config file, the environment and overrides, in that order.
#[derive(Debug, Default)]
pub struct ConfigSources {
    pub file: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub overrides: Vec<String>,
}

impl ConfigSources {
    /// Merges the sources into one property map (later sources win).
    pub fn merge(&self) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut set = BTreeMap::new();
        if let Some(path) = &self.file {
            set.extend(read_file(path)?);
        }
        for (key, value) in &self.env {
            if let Some(rest) = key.strip_prefix("FJORD_") {
                set.insert(rest.to_ascii_lowercase().replace('_', "."), value.clone());
            }
        }
        for o in &self.overrides {
            let (k, v) = o.split_once('=').ok_or_else(|| ConfigError::Override(o.clone()))?;
            set.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(set)
    }
}

/// Reads a `.toml` file (flat dotted keys or nested tables) or a Java `.properties` file.
fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
    let parse_err = |reason: String| ConfigError::Parse { path: path.into(), reason };
    if path.extension().is_some_and(|e| e == "toml") {
        let table: toml::Table = toml::from_str(&text).map_err(|e| parse_err(e.to_string()))?;
        let mut out = BTreeMap::new();
        flatten("", &table, &mut out).map_err(parse_err)?;
        return Ok(out);
    }
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .or_else(|| line.split_once(':'))
            .ok_or_else(|| parse_err(format!("line {}: expected key=value", n + 1)))?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out)?,
            toml::Value::Array(items) => {
                let parts = items.iter().map(|i| scalar(&key, i)).collect::<Result<Vec<_>, _>>()?;
                out.insert(key, parts.join(","));
            }
            other => {
                let value = scalar(&key, other)?;
                out.insert(key, value);
            }
        }
    }
    Ok(())
}

/// A TOML string, integer or boolean as the property text Kafka would read.
fn scalar(key: &str, value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!("'{key}': unsupported {} value; use a string, integer or boolean", other.type_str())),
    }
}

fn invalid(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { key: key.into(), value: value.into(), reason: reason.into() }
}

fn non_empty(key: &str, value: &str) -> Result<String, ConfigError> {
    let first = value.split(',').next().unwrap_or("").trim();
    if first.is_empty() {
        return Err(invalid(key, value, "must not be empty"));
    }
    if value.contains(',') {
        return Err(invalid(key, value, "only one data directory is supported"));
    }
    Ok(first.to_string())
}

pub(crate) fn parse_num(key: &str, value: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64, ConfigError> {
    let n: i64 = value.parse().map_err(|_| invalid(key, value, "not an integer"))?;
    if !range.contains(&n) {
        return Err(invalid(key, value, &format!("must be in {}..={}", range.start(), range.end())));
    }
    Ok(n)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "must be true or false")),
    }
}

fn split_listener(key: &str, value: &str) -> Result<(String, u16), ConfigError> {
    if value.contains(',') {
        return Err(invalid(key, value, "only one listener is supported"));
    }
    let rest =
        value.strip_prefix("PLAINTEXT://").ok_or_else(|| invalid(key, value, "expected PLAINTEXT://host:port"))?;
    split_host_port(key, value, rest)
}

fn split_host_port(key: &str, value: &str, rest: &str) -> Result<(String, u16), ConfigError> {
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| invalid(key, value, "expected NAME://host:port"))?;
    let port: u16 = port.parse().map_err(|_| invalid(key, value, "port must be 0..=65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), port))
}

/// `PLAINTEXT://host:port[,CONTROLLER://host:port]`: the bound address of each listener name.
fn parse_listeners(key: &str, value: &str) -> Result<BTreeMap<&'static str, SocketAddr>, ConfigError> {
    let mut out = BTreeMap::new();
    for entry in value.split(',').map(str::trim) {
        let (name, rest) = entry
            .split_once("://")
            .ok_or_else(|| invalid(key, value, "expected PLAINTEXT://host:port[,CONTROLLER://host:port]"))?;
        let name = match name {
            "PLAINTEXT" => "PLAINTEXT",
            "CONTROLLER" => "CONTROLLER",
            other => {
                let why = format!("listener '{other}' is not supported: use PLAINTEXT:// and CONTROLLER://");
                return Err(invalid(key, value, &why));
            }
        };
        let (host, port) = split_host_port(key, value, rest)?;
        if out.insert(name, socket_addr(key, value, &host, port)?).is_some() {
            return Err(invalid(key, value, &format!("{name} is listed twice")));
        }
    }
    Ok(out)
}

/// `controller.quorum.voters`: `id@host:port,...`, as Kafka writes it.
fn parse_voters(key: &str, value: &str) -> Result<BTreeMap<i32, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, addr) = entry.split_once('@').ok_or_else(|| invalid(key, value, "expected id@host:port,..."))?;
        let id = parse_num(key, id.trim(), 0..=i64::from(i32::MAX))
            .map_err(|_| invalid(key, value, &format!("voter id '{id}' is not a node id")))? as i32;
        let (host, port) = split_host_port(key, value, addr.trim())?;
        if host.is_empty() || port == 0 {
            return Err(invalid(key, value, "every voter needs a host and a non-zero port"));
        }
        if out.insert(id, format!("{host}:{port}")).is_some() {
            return Err(invalid(key, value, &format!("voter {id} is listed twice")));
        }
    }
    Ok(out)
}

/// `host:port` without a listener name (the HTTP endpoint).
fn parse_socket_addr(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    let (host, port) = value.rsplit_once(':').ok_or_else(|| invalid(key, value, "expected host:port"))?;
    let port: u16 = port.parse().map_err(|_| invalid(key, value, "port must be 0..=65535"))?;
    socket_addr(key, value, host.trim_start_matches('[').trim_end_matches(']'), port)
}

fn socket_addr(key: &str, value: &str, host: &str, port: u16) -> Result<SocketAddr, ConfigError> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let ip = if host == "localhost" { "127.0.0.1".parse().ok() } else { host.parse().ok() };
    let ip: std::net::IpAddr = ip.ok_or_else(|| invalid(key, value, "host must be an IP address or localhost"))?;
    Ok(SocketAddr::new(ip, port))
}

fn non_blank(key: &str, value: &str) -> Result<String, ConfigError> {
    if value.trim().is_empty() {
        return Err(invalid(key, value, "must not be empty"));
    }
    Ok(value.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_are_the_embedded_broker() {
        let c = BrokerConfig::embedded_default();
        assert_eq!(c.listener, "127.0.0.1:9092".parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert!(c.auto_create_topics && c.flush_every_ack);
        assert!(!c.is_set("log.dirs"));
    }

    #[test]
    fn errors_name_the_property() {
        let e = BrokerConfig::from_properties(props(&[("num.partitions", "zero")])).unwrap_err();
        assert_eq!(e.to_string(), "property 'num.partitions' = 'zero': not an integer");
        let e = BrokerConfig::from_properties(props(&[("listeners", "http://x")])).unwrap_err();
        assert!(e.to_string().contains("PLAINTEXT://"));
        let e = BrokerConfig::from_properties(props(&[("log.dirz", "x")])).unwrap_err();
        assert!(matches!(e, ConfigError::Unknown(_)));
        let e = BrokerConfig::from_properties(props(&[("log.message.timestamp.type", "Now")])).unwrap_err();
        assert!(e.to_string().contains("log.message.timestamp.type"), "{e}");
    }

    #[test]
    fn cluster_listeners_and_voters_parse_as_kafka_writes_them() {
        let c = BrokerConfig::from_properties(props(&[
            ("node.id", "2"),
            ("listeners", "PLAINTEXT://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193"),
            ("controller.quorum.voters", "1@127.0.0.1:9093,2@127.0.0.1:9193,3@localhost:9293"),
            ("broker.rack", "r1"),
        ]))
        .unwrap();
        assert_eq!(c.listener, "127.0.0.1:9192".parse().unwrap());
        assert_eq!(c.controller_listener, Some("127.0.0.1:9193".parse().unwrap()));
        assert_eq!(c.voters.len(), 3);
        assert_eq!(c.voters[&3], "localhost:9293");
        assert_eq!(c.rack.as_deref(), Some("r1"));

        let not_a_voter = BrokerConfig::from_properties(props(&[
            ("node.id", "4"),
            ("listeners", "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0"),
            ("controller.quorum.voters", "1@127.0.0.1:9093"),
        ]))
        .unwrap_err();
        assert!(not_a_voter.to_string().contains("not among the voters"), "{not_a_voter}");
        let no_controller = BrokerConfig::from_properties(props(&[
            ("listeners", "PLAINTEXT://127.0.0.1:0"),
            ("controller.quorum.voters", "1@127.0.0.1:9093"),
        ]))
        .unwrap_err();
        assert!(no_controller.to_string().contains("CONTROLLER"), "{no_controller}");
        for bad in ["1@127.0.0.1", "x@127.0.0.1:1", "1@127.0.0.1:1,1@127.0.0.1:2", "1:127.0.0.1:9"] {
            let e = BrokerConfig::from_properties(props(&[("controller.quorum.voters", bad)])).unwrap_err();
            assert!(e.to_string().contains("controller.quorum.voters"), "{bad}: {e}");
        }
        let e = BrokerConfig::from_properties(props(&[("replica.fetch.wait.max.ms", "40000")])).unwrap_err();
        assert!(e.to_string().contains("replica.lag.time.max.ms"), "{e}");
        let e = BrokerConfig::from_properties(props(&[("listeners", "SSL://127.0.0.1:1")])).unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
    }

    #[test]
    fn layers_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fjord.toml");
        std::fs::write(&file, "num.partitions = 3\n[log]\ndirs = \"/tmp/a\"\n").unwrap();
        let sources = ConfigSources {
            file: Some(file),
            env: vec![("FJORD_NUM_PARTITIONS".into(), "4".into()), ("PATH".into(), "x".into())],
            overrides: vec!["listeners=PLAINTEXT://127.0.0.1:0".into()],
        };
        let c = BrokerConfig::from_properties(sources.merge().unwrap()).unwrap();
        assert_eq!(c.num_partitions, 4);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/a"));
        assert_eq!(c.listener.port(), 0);
        let props_file = dir.path().join("server.properties");
        std::fs::write(&props_file, "# comment\nnode.id=7\nauto.create.topics.enable = false\n").unwrap();
        let sources = ConfigSources { file: Some(props_file), ..Default::default() };
        let c = BrokerConfig::from_properties(sources.merge().unwrap()).unwrap();
        assert_eq!(c.node_id, 7);
        assert!(!c.auto_create_topics);
    }
}

#[cfg(test)]
mod doc_tests {
    use std::collections::BTreeMap;

    use super::BrokerConfig;

    #[test]
    fn every_property_is_documented() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md")).unwrap();
        for p in super::PROPERTIES {
            assert!(doc.contains(&format!("| `{}` | `{}` |", p.name, p.default)), "{} missing from docs", p.name);
        }
        for t in crate::topic_config::TOPIC_CONFIGS {
            assert!(doc.contains(&format!("| `{}` |", t.name)), "{} missing from docs", t.name);
        }
    }

    #[test]
    fn effective_values_layer_topic_over_broker_over_default() {
        let mut props = BTreeMap::new();
        props.insert("log.retention.ms".to_string(), "1000".to_string());
        let broker = BrokerConfig::from_properties(props).unwrap();
        let defaults = broker.topic_defaults().unwrap();
        let mut overrides = BTreeMap::new();
        overrides.insert("segment.bytes".to_string(), "2048".to_string());
        let eff: BTreeMap<_, _> =
            defaults.effective(&overrides).map(|(d, v, s)| (d.name, (v.to_string(), s))).collect();
        assert_eq!(eff["retention.ms"], ("1000".into(), crate::topic_config::ConfigSource::StaticBroker));
        assert_eq!(eff["segment.bytes"], ("2048".into(), crate::topic_config::ConfigSource::Topic));
        assert_eq!(eff["retention.bytes"], ("-1".into(), crate::topic_config::ConfigSource::Default));
        let log = defaults.log_config(&overrides);
        assert_eq!((log.segment_bytes, log.retention_ms), (2048, 1000));
    }
}
