//! A cluster of real `fjord` processes on loopback: each node is broker and controller, with its
//! own temporary data directory, an ephemeral Kafka port and a reserved CONTROLLER port that the
//! voters list names. Nodes can be SIGKILLed, stopped and restarted on their data and their
//! controller port (their Kafka port changes; they re-register it).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use anyhow::{Context, Result};

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
        let ports = reserve_ports(n as usize)?;
        let voters: Vec<String> = (1..=n).zip(&ports).map(|(id, port)| format!("{id}@127.0.0.1:{port}")).collect();
        let mut starting = Vec::new();
        for (id, port) in (1..=n).zip(&ports) {
            let mut overrides: Vec<String> = vec![
                format!("node.id={id}"),
                format!("listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{port}"),
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

/// `n` distinct free loopback ports: bound together (so they differ), then released for the
/// nodes to bind. Another process could take one in between; on loopback in a test run that
/// does not happen in practice, and the node would then fail to start, loudly.
pub fn reserve_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<std::io::Result<Vec<_>>>()?;
    let ports = listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<std::io::Result<Vec<_>>>()?;
    Ok(ports)
}

/// How long a client waits for the cluster to settle after a node is killed.
pub const FAILOVER_LIMIT: Duration = Duration::from_secs(10);
