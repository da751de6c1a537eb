//! A cluster of real `fjord` processes on loopback: each node is broker and controller, with its
//! own temporary data directory and a reserved Kafka port and CONTROLLER port (the voters list
//! names the latter). Nodes can be SIGKILLed, stopped and restarted on their data and their
//! ports, so clients find a restarted broker where it was, as they would in production.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::http::Metrics;
use crate::{Broker, START_TIMEOUT, wait_for};

/// Short heartbeats and sessions, so that a dead broker is fenced within seconds.
pub const CLUSTER_OVERRIDES: &[&str] = &[
    "broker.heartbeat.interval.ms=200",
    "broker.session.timeout.ms=2000",
    "group.initial.rebalance.delay.ms=0",
    "replica.lag.time.max.ms=3000",
    "leader.imbalance.check.interval.seconds=1",
];

/// Running (or stopped) cluster nodes by node id.
#[derive(Debug)]
pub struct Cluster {
    nodes: BTreeMap<i32, Broker>,
    _tmp: tempfile::TempDir,
}

impl Cluster {
    /// Starts nodes 1..=n with [`CLUSTER_OVERRIDES`] and `extra`, and waits until all serve.
    pub fn start(n: i32, extra: &[&str]) -> Result<Self> {
        let tmp = tempfile::tempdir()?;
        let ports = reserve_ports(2 * n as usize)?;
        let (kafka_ports, ports) = ports.split_at(n as usize);
        let voters: Vec<String> = (1..=n).zip(ports).map(|(id, port)| format!("{id}@127.0.0.1:{port}")).collect();
        let mut starting = Vec::new();
        for ((id, port), kafka) in (1..=n).zip(ports).zip(kafka_ports) {
            let mut overrides: Vec<String> = vec![
                format!("node.id={id}"),
                format!("listeners=PLAINTEXT://127.0.0.1:{kafka},CONTROLLER://127.0.0.1:{port}"),
                format!("controller.quorum.voters={}", voters.join(",")),
            ];
            overrides.extend(CLUSTER_OVERRIDES.iter().chain(extra).map(|s| s.to_string()));
            starting.push((id, Broker::unstarted(tmp.path().join(format!("node-{id}")), overrides)?));
        }
        let mut nodes = BTreeMap::new();
        for (id, (child, addresses, mut broker)) in starting {
            broker.serving(child, &addresses).with_context(|| format!("node {id}"))?;
            nodes.insert(id, broker);
        }
        Ok(Self { nodes, _tmp: tmp })
    }

    /// Node `id`.
    pub fn node(&self, id: i32) -> &Broker {
        &self.nodes[&id]
    }

    /// Node `id`, to kill or restart it.
    pub fn node_mut(&mut self, id: i32) -> &mut Broker {
        self.nodes.get_mut(&id).expect("a node of this cluster")
    }

    /// The ids of the running nodes.
    pub fn running(&self) -> Vec<i32> {
        self.nodes.iter().filter(|(_, b)| b.is_running()).map(|(id, _)| *id).collect()
    }

    /// The Kafka addresses of the running nodes, comma-separated (a client bootstrap list).
    pub fn bootstrap(&self) -> String {
        self.running().iter().map(|id| self.nodes[id].addr.clone()).collect::<Vec<_>>().join(",")
    }

    /// The active controller as every running node reports it (`fjord_metadata_controller_id`),
    /// once they agree on one that is running.
    pub fn controller(&self) -> Result<i32> {
        let running = self.running();
        wait_for(START_TIMEOUT, || {
            let mut seen = Vec::new();
            for id in &running {
                let Ok(m) = Metrics::scrape(&self.nodes[id].http) else { return Ok(None) };
                seen.push(m.get("fjord_metadata_controller_id", &[]).unwrap_or(-1.0) as i32);
            }
            let agreed = seen.windows(2).all(|w| w[0] == w[1]);
            Ok(seen.first().copied().filter(|c| agreed && running.contains(c)))
        })
        .context("the running nodes agree on no controller")
    }

    /// Stops every node (SIGTERM), then starts them all again on their data, together.
    pub fn restart_all(&mut self) -> Result<()> {
        for broker in self.nodes.values_mut().filter(|b| b.is_running()) {
            broker.terminate()?;
        }
        let mut starting = Vec::new();
        for (id, broker) in &self.nodes {
            let (child, addresses, fresh) = Broker::unstarted(broker.data.clone(), broker.overrides.clone())?;
            starting.push((*id, child, addresses, fresh));
        }
        for (id, child, addresses, mut fresh) in starting {
            fresh.serving(child, &addresses).with_context(|| format!("node {id} after the restart"))?;
            self.nodes.insert(id, fresh);
        }
        Ok(())
    }
}

/// One partition as the metadata lists it (kcat -L).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl Cluster {
    /// The partitions of `topic` as running node `via` lists them.
    pub fn partitions(&self, via: i32, topic: &str) -> Result<Vec<PartitionState>> {
        let out = crate::run_ok(crate::kcat(&self.nodes[&via].addr).args(["-L", "-t", topic]), b"")?;
        let ids = |field: &str, line: &str| -> Vec<i32> {
            line.split(field)
                .nth(1)
                .and_then(|r| r.split(", ").next())
                .map(|list| list.split(',').filter_map(|id| id.trim().parse().ok()).collect())
                .unwrap_or_default()
        };
        let mut found = Vec::new();
        for line in out.lines().map(str::trim).filter(|l| l.starts_with("partition ")) {
            let mut words = line.split(", ");
            let partition = words.next().and_then(|w| w.strip_prefix("partition ")).and_then(|p| p.parse().ok());
            let leader = words.next().and_then(|w| w.strip_prefix("leader ")).and_then(|l| l.parse().ok());
            let (Some(partition), Some(leader)) = (partition, leader) else { continue };
            found.push(PartitionState {
                partition,
                leader,
                replicas: ids("replicas: ", line),
                isr: ids("isrs: ", line),
            });
        }
        found.sort_by_key(|p| p.partition);
        Ok(found)
    }

    /// Waits until every one of `partitions` partitions of `topic` has a running leader and all
    /// its replicas in the ISR, as a running node lists it. Returns the states.
    pub fn wait_in_sync(&self, topic: &str, partitions: usize, limit: Duration) -> Result<Vec<PartitionState>> {
        let running = self.running();
        let mut last = Vec::new();
        wait_for(limit, || {
            let Some(via) = running.first() else { return Ok(None) };
            last = self.partitions(*via, topic).unwrap_or_default();
            let synced = last.len() == partitions
                && last
                    .iter()
                    .all(|p| running.contains(&p.leader) && p.isr.len() == p.replicas.len() && !p.replicas.is_empty());
            Ok(synced.then(|| last.clone()))
        })
        .with_context(|| format!("{topic} not fully in sync: {last:?}"))
    }

    /// Waits until partition `partition` of `topic` is led by a running node; returns its id.
    pub fn leader_of(&self, topic: &str, partition: i32, limit: Duration) -> Result<i32> {
        let running = self.running();
        wait_for(limit, || {
            let Some(via) = running.first() else { return Ok(None) };
            let states = self.partitions(*via, topic).unwrap_or_default();
            Ok(states.iter().find(|p| p.partition == partition).map(|p| p.leader).filter(|l| running.contains(l)))
        })
        .with_context(|| format!("{topic}-{partition} has no running leader"))
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to node `id`'s process.
    pub fn signal(&self, id: i32, signal: &str) -> Result<()> {
        let pid = self.nodes[&id].pid().to_string();
        let status = std::process::Command::new("kill").args([format!("-{signal}"), pid]).status()?;
        anyhow::ensure!(status.success(), "kill -{signal} node {id} failed");
        Ok(())
    }
}

/// `n` distinct free loopback ports for nodes that keep their ports across restarts: bound
/// together (so they differ), then released for the nodes to bind. They are taken below the
/// kernel's ephemeral range, from which every client connection of the other tests running
/// meanwhile draws its local port (and every listener on port 0): a port released there can be
/// taken by a connection before a node, or a restarted node, binds it again. Where to start is
/// derived from the process id, so parallel test processes look in different places.
pub fn reserve_ports(n: usize) -> Result<Vec<u16>> {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()))
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_start.saturating_sub(1));
    let span = u32::from(high.saturating_sub(low)).max(1);
    // Each call of this process starts past the ports the previous calls handed out.
    static HANDED_OUT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let skip = HANDED_OUT.fetch_add(n as u32, std::sync::atomic::Ordering::Relaxed);
    let start = low + ((std::process::id().wrapping_mul(7919).wrapping_add(skip)) % span) as u16;
    let mut listeners = Vec::with_capacity(n);
    let mut port = start;
    for _ in 0..span {
        if listeners.len() == n {
            break;
        }
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            listeners.push(l);
        }
        port = if port >= high { low } else { port + 1 };
    }
    if listeners.len() < n {
        bail!("only {} free ports below the ephemeral range", listeners.len());
    }
    let ports = listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<std::io::Result<Vec<_>>>()?;
    Ok(ports)
}

/// How long a client waits for the cluster to settle after a node is killed.
pub const FAILOVER_LIMIT: Duration = Duration::from_secs(10);
