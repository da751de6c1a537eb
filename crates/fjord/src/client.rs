//! [`Client`]: a minimal blocking Kafka client for the operator commands — one connection, one
//! request at a time, any API `kafka-protocol` knows, framed by [`ClientCodec`] (headers chosen
//! by version as Kafka defines them, responses bounded in size) — and [`Cluster`], the brokers
//! of a cluster reached from one bootstrap broker, as Kafka's admin tools reach them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use fjord_protocol::ClientCodec;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// The largest response the operator commands accept (a Metadata or DescribeGroups of a big
/// cluster stays far below it).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

pub struct Client {
    stream: TcpStream,
    codec: ClientCodec,
}

impl Client {
    pub fn connect(addr: &str) -> Result<Self> {
        let stream = TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self { stream, codec: ClientCodec::new("fjord-cli", MAX_RESPONSE) })
    }

    /// Sends `request` at `version` and decodes the response.
    pub fn send<Req: Encodable, Resp: Decodable>(&mut self, key: ApiKey, version: i16, request: &Req) -> Result<Resp> {
        let frame = self.codec.encode(key, version, request)?;
        self.stream.write_all(&frame)?;
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix)?;
        let mut frame = vec![0u8; self.codec.response_len(prefix)?];
        self.stream.read_exact(&mut frame)?;
        Ok(self.codec.decode(key, version, frame.into())?)
    }
}

pub fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

pub fn check(code: i16, what: &str) -> Result<()> {
    if code != 0 {
        let e = kafka_protocol::ResponseError::try_from_code(code)
            .map_or_else(|| format!("error {code}"), |e| format!("{e:?}"));
        bail!("{what}: {e}");
    }
    Ok(())
}

/// The brokers of the cluster the bootstrap broker belongs to, connected to on first use.
pub struct Cluster {
    pub addrs: BTreeMap<i32, String>,
    clients: BTreeMap<i32, Client>,
    bootstrap: Client,
}

impl Cluster {
    pub fn connect(bootstrap: &str) -> Result<Self> {
        let mut client = Client::connect(bootstrap)?;
        let request = MetadataRequest::default().with_topics(Some(Vec::new())).with_allow_auto_topic_creation(false);
        let metadata: MetadataResponse = client.send(ApiKey::Metadata, 9, &request)?;
        let addrs = metadata.brokers.iter().map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port))).collect();
        Ok(Self { addrs, clients: BTreeMap::new(), bootstrap: client })
    }

    /// A connection to broker `id`.
    pub fn broker(&mut self, id: i32) -> Result<&mut Client> {
        if !self.clients.contains_key(&id) {
            let addr = self.addrs.get(&id).with_context(|| format!("broker {id} is not in the cluster metadata"))?;
            self.clients.insert(id, Client::connect(addr)?);
        }
        Ok(self.clients.get_mut(&id).expect("connected above"))
    }

    /// A connection to the coordinator of `key` (key type 0 a group, 1 a transactional id).
    pub fn coordinator(&mut self, key_type: i8, key: &str) -> Result<&mut Client> {
        let request =
            FindCoordinatorRequest::default().with_key(StrBytes::from_string(key.to_string())).with_key_type(key_type);
        let found: FindCoordinatorResponse = self.bootstrap.send(ApiKey::FindCoordinator, 3, &request)?;
        check(found.error_code, &format!("FindCoordinator {key}"))?;
        self.addrs.insert(found.node_id.0, format!("{}:{}", found.host.as_str(), found.port));
        self.broker(found.node_id.0)
    }

    /// The leader of each partition of `topic`.
    pub fn leaders(&mut self, topic: &str) -> Result<BTreeMap<i32, i32>> {
        let metadata: MetadataResponse = self.bootstrap.send(
            ApiKey::Metadata,
            9,
            &MetadataRequest::default()
                .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name(topic)))]))
                .with_allow_auto_topic_creation(false),
        )?;
        let t = metadata.topics.into_iter().next().context("no metadata for the topic")?;
        check(t.error_code, &format!("topic {topic}"))?;
        Ok(t.partitions.iter().map(|p| (p.partition_index, p.leader_id.0)).collect())
    }
}
