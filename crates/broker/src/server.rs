//! Startup, background tasks and graceful shutdown of one broker.
//!
//! Start: bind the HTTP endpoint (alive, not ready), open the node's RocksDB, start the metadata
//! node (Raft, and its RPC server on the CONTROLLER listener in a cluster), bind the Kafka
//! listener (so a port of 0 becomes a real one before anyone is told), wait for the metadata
//! quorum and register this broker with the controller, open the partition logs (recovering them
//! after an unclean stop), then accept clients and report ready. Shutdown: report not ready, stop
//! accepting, let every connection finish the request it is on (long polls answer at once;
//! bounded by `shutdown.timeout.ms`), close the logs with an fsync, leave the clean-shutdown
//! marker, stop the metadata node, and stop the HTTP endpoint last.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fjord_meta::{BrokerInfo, MetaConfig, Metadata, NodeDb};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::replica::ReplicaManager;
use crate::replica::fetcher::{FetcherConfig, Fetchers};
use crate::replica::isr::IsrKeeper;
use crate::telemetry::http::Endpoint;
use crate::telemetry::{Lifecycle, Sources};
use crate::{Broker, BrokerConfig, StartupError};

/// A broker that is serving clients.
#[derive(Debug)]
pub struct RunningBroker {
    /// The address the Kafka listener is bound to.
    pub addr: SocketAddr,
    pub broker: Arc<Broker>,
    lifecycle: Arc<Lifecycle>,
    http: Option<Endpoint>,
    stop: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<JoinSet<()>>,
    background: JoinSet<()>,
}

/// A broker whose HTTP endpoint is up (answering `/ready` with 503) and whose logs are not
/// opened yet: [`Starting::finish`] recovers them and starts serving.
#[derive(Debug)]
pub struct Starting {
    config: BrokerConfig,
    lifecycle: Arc<Lifecycle>,
    http: Option<Endpoint>,
}

impl Starting {
    /// Binds the HTTP endpoint (when `http.listener` is set).
    pub async fn begin(config: BrokerConfig) -> Result<Self, StartupError> {
        let lifecycle = Arc::new(Lifecycle::default());
        let http = match config.http_listener {
            None => None,
            Some(addr) => Some(Endpoint::bind(addr, lifecycle.clone()).await.map_err(|source| StartupError::Bind {
                what: "HTTP",
                addr,
                source,
            })?),
        };
        Ok(Self { config, lifecycle, http })
    }

    /// The bound HTTP endpoint address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|h| h.addr)
    }

    /// Opens the node's RocksDB and the metadata, registers this broker, binds the Kafka listener,
    /// opens (recovering) the partition logs, and starts serving.
    pub async fn finish(self) -> Result<RunningBroker, StartupError> {
        let Self { config, lifecycle, http } = self;
        let started = std::time::Instant::now();
        let db = Arc::new(
            tokio::task::spawn_blocking({
                let db_dir = config.data_dir.join(fjord_log::layout::META_DIR);
                move || open_node_db(&db_dir)
            })
            .await??,
        );
        let controller = match config.controller_listener {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| StartupError::Bind {
                what: "controllers",
                addr,
                source,
            })?),
            None => None,
        };
        let meta = Metadata::start(db.clone(), meta_config(&config), controller).await?;

        let bind = |source| StartupError::Bind { what: "Kafka clients", addr: config.listener, source };
        let listener = TcpListener::bind(config.listener).await.map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let advertised = config.advertised.clone().unwrap_or_else(|| (addr.ip().to_string(), addr.port()));
        let me = BrokerInfo {
            id: config.node_id,
            host: advertised.0.clone(),
            port: advertised.1,
            rack: config.rack.clone(),
            fenced: false,
            stopped: false,
        };
        meta.join_cluster(me).await?;

        let defaults =
            config.topic_defaults().map_err(|(k, v, why)| StartupError::Config(format!("{k}={v}: {why}")))?;
        // Log recovery reads whole segments: off the async workers, so the HTTP endpoint answers.
        let (data_dir, node_id, opened) = (config.data_dir.clone(), config.node_id, meta.image());
        let image = opened.clone();
        let replicas =
            tokio::task::spawn_blocking(move || ReplicaManager::open(&data_dir, node_id, defaults, db, &image))
                .await??;
        let (stop, stop_rx) = watch::channel(false);
        let broker = Arc::new(Broker::new(config, meta, Arc::new(replicas), advertised, stop_rx.clone()));
        // The groups of the `__consumer_offsets` partitions led here are replayed before serving.
        broker.groups.follow_leadership();
        broker.groups.wait_loaded().await;
        broker.transactions.follow_leadership();

        let config = &broker.config;
        let mut background = JoinSet::new();
        background.spawn(follow_metadata(broker.clone(), opened, stop_rx.clone()));
        let fetchers = FetcherConfig {
            node_id: config.node_id,
            max_bytes: config.replica_fetch_max_bytes,
            wait_max_ms: config.replica_fetch_wait_max_ms,
        };
        background
            .spawn(Fetchers::new(fetchers, broker.replicas.clone(), broker.meta.subscribe()).run(stop_rx.clone()));
        let isr = IsrKeeper {
            node_id: config.node_id,
            lag: Duration::from_millis(config.replica_lag_time_max_ms as u64),
            replicas: broker.replicas.clone(),
            proposer: broker.proposer.clone(),
        };
        background.spawn(isr.run(stop_rx.clone()));
        let period = Duration::from_millis(config.retention_check_interval_ms);
        background.spawn(retention(broker.replicas.clone(), period, stop_rx.clone()));
        background.spawn(broker.groups.clone().run_timers(stop_rx.clone()));
        background.spawn(broker.transactions.clone().run(stop_rx.clone()));
        background.spawn(metrics_upkeep(stop_rx.clone()));
        let accept = tokio::spawn(accept_loop(listener, broker.clone(), stop_rx));
        if let Some(http) = &http {
            http.attach(Sources {
                telemetry: broker.telemetry.clone(),
                replicas: broker.replicas.clone(),
                groups: broker.groups.clone(),
                transactions: broker.transactions.clone(),
                images: broker.meta.subscribe(),
            });
        }
        lifecycle.serving();
        tracing::info!(%addr, http = ?http.as_ref().map(|h| h.addr), node_id = broker.config.node_id, partitions = broker.replicas.all().len(), elapsed_ms = started.elapsed().as_millis() as u64, "broker ready");
        Ok(RunningBroker { addr, broker, lifecycle, http, stop, accept, background })
    }
}

impl RunningBroker {
    /// The address of the HTTP endpoint, unless it is disabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|h| h.addr)
    }

    /// Starts a broker with `config`: [`Starting::begin`] then [`Starting::finish`].
    pub async fn start(config: BrokerConfig) -> Result<Self, StartupError> {
        Starting::begin(config).await?.finish().await
    }

    /// Stops accepting, lets in-flight requests finish, closes the logs and marks a clean stop.
    /// `/ready` answers 503 from the first moment; the HTTP endpoint stops last.
    pub async fn shutdown(mut self) -> Result<(), StartupError> {
        tracing::info!("shutting down");
        self.lifecycle.stopping();
        if self.broker.config.controlled_shutdown {
            controlled_shutdown(&self.broker).await;
        }
        self.stop.send_replace(true);
        let mut connections = self.accept.await?;
        let timeout = Duration::from_millis(self.broker.config.shutdown_timeout_ms);
        let drained = tokio::time::timeout(timeout, async { while connections.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                timeout_ms = timeout.as_millis() as u64,
                "connections still busy at the shutdown timeout; closing them"
            );
            connections.shutdown().await;
        }
        self.background.shutdown().await;
        // Closing fsyncs every log and writes its indexes: off the async workers.
        let replicas = self.broker.replicas.clone();
        let closed = tokio::task::spawn_blocking(move || replicas.shutdown()).await?;
        self.broker.meta.shutdown().await;
        if let Some(http) = self.http.take() {
            http.stop().await;
        }
        closed.map_err(StartupError::UncleanShutdown)?;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// Hands leadership of every partition this broker leads to another in-sync replica, through
/// the controller, before the broker stops (Kafka's controlled shutdown): clients move to the new
/// leaders at once instead of after a session timeout, and it leaves the ISRs at once, so that
/// acks=all writes do not wait for it. Nothing acknowledged is lost. Skipped when this broker is
/// in no ISR with another member (nothing to hand over — the local image may lag a moment, but
/// the ISRs this broker leads or belongs to it knows); bounded by `shutdown.timeout.ms`.
async fn controlled_shutdown(broker: &Broker) {
    let me = broker.config.node_id;
    let shared = broker.replicas.all().iter().any(|p| {
        let isr = p.isr();
        isr.contains(&me) && isr.len() > 1
    });
    if !shared {
        return;
    }
    let led = broker.replicas.all().iter().filter(|p| p.is_leader()).count();
    let started = std::time::Instant::now();
    let timeout = Duration::from_millis(broker.config.shutdown_timeout_ms);
    match tokio::time::timeout(timeout, broker.propose(fjord_meta::Command::ShutdownBroker { id: me })).await {
        Ok(Ok(_)) => {
            let still = broker.replicas.all().iter().filter(|p| p.is_leader()).count();
            tracing::info!(
                led,
                still_leading = still,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "controlled shutdown moved leadership away"
            );
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "controlled shutdown failed; stopping anyway"),
        Err(_) => {
            tracing::warn!(timeout_ms = timeout.as_millis() as u64, "controlled shutdown timed out; stopping anyway")
        }
    }
}

/// The node's RocksDB in `log.dirs` (created with its parents when new).
fn open_node_db(dir: &std::path::Path) -> Result<NodeDb, StartupError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| fjord_log::LogError::Io { context: format!("create {}", dir.display()), source })?;
    Ok(NodeDb::open(dir)?)
}

/// The metadata node's settings from the broker's.
fn meta_config(config: &BrokerConfig) -> MetaConfig {
    MetaConfig {
        voters: config.voters.clone(),
        heartbeat_interval: Duration::from_millis(config.heartbeat_interval_ms),
        session_timeout: Duration::from_millis(config.session_timeout_ms),
        leader_rebalance_interval: config.leader_rebalance_interval_ms.map(Duration::from_millis),
        ..MetaConfig::single(config.node_id)
    }
}

async fn accept_loop(listener: TcpListener, broker: Arc<Broker>, mut stop: watch::Receiver<bool>) -> JoinSet<()> {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(crate::connection::serve(broker.clone(), stream, peer, stop.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections
}

/// Applies every new metadata image to the hosted partitions and the coordinators, starting
/// with whatever changed since `opened` (the image the logs were opened with: the logs' recovery
/// and the coordinators' first loads take a while), and makes this broker's group coordinator
/// forget the committed offsets of deleted topics, whichever broker the deletion went through.
async fn follow_metadata(broker: Arc<Broker>, opened: Arc<fjord_meta::MetadataImage>, mut stop: watch::Receiver<bool>) {
    let mut images = broker.meta.subscribe();
    let mut previous = opened;
    loop {
        let image = images.borrow_and_update().clone();
        if image.applied_index != previous.applied_index {
            if let Err(e) = broker.replicas.reconcile(image.clone()).await {
                tracing::error!(error = %e, "applying metadata to the hosted partitions failed");
            }
            broker.groups.follow_leadership();
            broker.transactions.follow_leadership();
            let deleted: Vec<String> = previous
                .topics
                .values()
                .filter(|t| image.topic(&t.name).is_none_or(|now| now.id != t.id))
                .map(|t| t.name.clone())
                .collect();
            for name in deleted {
                broker.groups.forget_topic(&name).await;
            }
            previous = image;
        }
        tokio::select! {
            _ = stop.changed() => return,
            changed = images.changed() => if changed.is_err() { return },
        }
    }
}

/// Runs retention and time-based segment rolls every `period` (`log.retention.check.interval.ms`).
async fn retention(replicas: Arc<ReplicaManager>, period: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {
                let replicas = replicas.clone();
                let _ = tokio::task::spawn_blocking(move || replicas.enforce_retention()).await;
            }
        }
    }
}

/// Keeps the metrics recorder's histogram storage bounded between scrapes.
async fn metrics_upkeep(mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => crate::telemetry::prometheus().run_upkeep(),
        }
    }
}
