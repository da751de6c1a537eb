//! Every broker property Fjord reads, with its default and meaning. docs/configuration.md is
//! written from this list (a test keeps the two in step).

/// One supported property: name, default value, meaning (for docs and DescribeConfigs).
#[derive(Debug, Clone, Copy)]
pub struct PropertyDef {
    pub name: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

/// Every broker property Fjord reads. docs/configuration.md is written from this list.
pub const PROPERTIES: &[PropertyDef] = &[
    PropertyDef { name: "node.id", default: "1", doc: "Id of this broker in the cluster." },
    PropertyDef {
        name: "listeners",
        default: "PLAINTEXT://127.0.0.1:9092",
        doc: "Addresses to bind: the Kafka listener (`PLAINTEXT://host:port`) and, in a cluster, the Raft listener (`CONTROLLER://host:port`), comma-separated. Port 0 picks a free port.",
    },
    PropertyDef {
        name: "advertised.listeners",
        default: "",
        doc: "Address given to clients in Metadata (`PLAINTEXT://host:port`); empty means the bound listener address.",
    },
    PropertyDef {
        name: "broker.rack",
        default: "",
        doc: "Rack of this broker; replicas of a partition are spread over racks when brokers set it.",
    },
    PropertyDef {
        name: "log.dirs",
        default: "./data",
        doc: "Data directory: partition logs and the node's RocksDB (one directory).",
    },
    PropertyDef {
        name: "num.partitions",
        default: "1",
        doc: "Partitions of auto-created topics and of CreateTopics with -1.",
    },
    PropertyDef {
        name: "default.replication.factor",
        default: "1",
        doc: "Replication factor of auto-created topics and of CreateTopics with -1.",
    },
    PropertyDef {
        name: "auto.create.topics.enable",
        default: "true",
        doc: "Create unknown topics named in Metadata requests.",
    },
    PropertyDef {
        name: "log.retention.ms",
        default: "604800000",
        doc: "Default retention.ms of topics (-1: keep forever).",
    },
    PropertyDef {
        name: "log.retention.bytes",
        default: "-1",
        doc: "Default retention.bytes per partition (-1: unlimited).",
    },
    PropertyDef { name: "log.retention.check.interval.ms", default: "300000", doc: "How often retention runs." },
    PropertyDef {
        name: "log.segment.bytes",
        default: "1073741824",
        doc: "Default segment.bytes: segment size before a roll.",
    },
    PropertyDef { name: "log.roll.ms", default: "604800000", doc: "Default segment.ms: segment age before a roll." },
    PropertyDef { name: "log.cleanup.policy", default: "delete", doc: "Default cleanup.policy of topics." },
    PropertyDef {
        name: "log.message.timestamp.type",
        default: "CreateTime",
        doc: "Default message.timestamp.type: CreateTime or LogAppendTime.",
    },
    PropertyDef {
        name: "log.flush.interval.messages",
        default: "1",
        doc: "1: every acks=all write is fsynced before it is acknowledged (group commit). Larger values leave flushing to the OS.",
    },
    PropertyDef {
        name: "message.max.bytes",
        default: "1048588",
        doc: "Default max.message.bytes: largest record batch accepted.",
    },
    PropertyDef { name: "min.insync.replicas", default: "1", doc: "Default min.insync.replicas of topics." },
    PropertyDef {
        name: "socket.request.max.bytes",
        default: "104857600",
        doc: "Largest request frame; larger frames close the connection.",
    },
    PropertyDef {
        name: "group.initial.rebalance.delay.ms",
        default: "3000",
        doc: "How long the first rebalance of an empty group waits for more members to join.",
    },
    PropertyDef {
        name: "group.min.session.timeout.ms",
        default: "6000",
        doc: "Shortest session timeout a consumer may ask for (JoinGroup).",
    },
    PropertyDef {
        name: "group.max.session.timeout.ms",
        default: "1800000",
        doc: "Longest session timeout a consumer may ask for (JoinGroup).",
    },
    PropertyDef {
        name: "offsets.retention.minutes",
        default: "10080",
        doc: "Committed offsets of a group without members are deleted this long after their last commit.",
    },
    PropertyDef {
        name: "offsets.topic.num.partitions",
        default: "50",
        doc: "Partitions of __consumer_offsets, created on the first group request; a group lives in partition hash(group) % N.",
    },
    PropertyDef {
        name: "offsets.topic.replication.factor",
        default: "3",
        doc: "Replication factor of __consumer_offsets, capped at the number of voters (so a single broker gets 1); group requests answer COORDINATOR_NOT_AVAILABLE until that many brokers are live.",
    },
    PropertyDef {
        name: "replica.lag.time.max.ms",
        default: "30000",
        doc: "A follower that has not caught up with the leader's log end for this long leaves the ISR.",
    },
    PropertyDef {
        name: "replica.fetch.wait.max.ms",
        default: "500",
        doc: "How long a follower's fetch waits at the leader for new records.",
    },
    PropertyDef {
        name: "replica.fetch.max.bytes",
        default: "1048576",
        doc: "Record bytes a follower asks for per partition and fetch (at least one whole batch is returned).",
    },
    PropertyDef {
        name: "auto.leader.rebalance.enable",
        default: "true",
        doc: "The active controller gives partitions back to their preferred (first) replica once it is in the ISR again.",
    },
    PropertyDef {
        name: "leader.imbalance.check.interval.seconds",
        default: "300",
        doc: "How often the active controller looks for partitions not led by their preferred replica.",
    },
    PropertyDef {
        name: "controlled.shutdown.enable",
        default: "true",
        doc: "On SIGTERM, hand leadership to other in-sync replicas before stopping.",
    },
    PropertyDef {
        name: "controller.quorum.voters",
        default: "",
        doc: "Raft voters of the metadata quorum, `id@host:port,...` (their CONTROLLER listeners); this node must be one of them. Empty: this node is a cluster of one.",
    },
    PropertyDef {
        name: "broker.heartbeat.interval.ms",
        default: "2000",
        doc: "How often the broker tells the active controller it is alive.",
    },
    PropertyDef {
        name: "broker.session.timeout.ms",
        default: "9000",
        doc: "A broker the controller has not heard from for this long is fenced: it is no longer listed and leads no partition until it heartbeats again.",
    },
    PropertyDef {
        name: "shutdown.timeout.ms",
        default: "10000",
        doc: "Longest wait for in-flight requests on shutdown.",
    },
    PropertyDef {
        name: "http.listener",
        default: "127.0.0.1:9644",
        doc: "Address of the HTTP endpoint: /metrics (Prometheus), /health, /ready. Port 0 picks a free port; empty disables it.",
    },
    PropertyDef {
        name: "transaction.state.log.num.partitions",
        default: "50",
        doc: "Partitions of __transaction_state, created on the first transactional request; a transactional id lives in partition hash(id) % N.",
    },
    PropertyDef {
        name: "transaction.state.log.replication.factor",
        default: "3",
        doc: "Replication factor of __transaction_state, capped at the number of voters.",
    },
    PropertyDef {
        name: "transaction.state.log.min.isr",
        default: "2",
        doc: "min.insync.replicas of __transaction_state, capped at its replication factor.",
    },
    PropertyDef {
        name: "transaction.max.timeout.ms",
        default: "900000",
        doc: "The longest transaction timeout a producer may ask for (InitProducerId answers INVALID_TRANSACTION_TIMEOUT past it).",
    },
    PropertyDef {
        name: "transactional.id.expiration.ms",
        default: "604800000",
        doc: "A transactional id without an open transaction and idle for this long is forgotten.",
    },
    PropertyDef {
        name: "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        default: "10000",
        doc: "How often open transactions past their timeout are looked for (and aborted, fencing their producer).",
    },
    PropertyDef {
        name: "transaction.remove.expired.transaction.cleanup.interval.ms",
        default: "3600000",
        doc: "How often expired transactional ids are looked for.",
    },
    PropertyDef {
        name: "log.format",
        default: "pretty",
        doc: "Log lines on stderr: pretty (human-readable) or json (one object per line).",
    },
    PropertyDef {
        name: "log.level",
        default: "info",
        doc: "Log filter (a level, or directives like `info,fjord_broker=debug`); RUST_LOG, when set, wins.",
    },
];
