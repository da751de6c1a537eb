//! [`PeerClient`]: the Kafka-protocol connection a broker keeps to another broker, and the only
//! module below the handlers that speaks Kafka messages: it turns a follower's questions (fetch
//! these partitions from these offsets; where does this epoch end) into Fetch v12 and
//! OffsetForLeaderEpoch v4 requests, and a transaction coordinator's markers into
//! WriteTxnMarkers v1, and their answers back into plain values. Framing is [`ClientCodec`]'s,
//! one request in flight at a time.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use fjord_protocol::ClientCodec;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
    ProducerId, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fetch and OffsetForLeaderEpoch versions a follower speaks (both flexible, names not ids).
const FETCH_VERSION: i16 = 12;
const EPOCH_VERSION: i16 = 4;
/// The largest response a follower accepts (a fetch is bounded well below this).
const MAX_RESPONSE: usize = 256 * 1024 * 1024;
/// The most record bytes one fetch response may carry (Kafka's `replica.fetch.response.max.bytes`).
const RESPONSE_MAX_BYTES: i32 = 10 * 1024 * 1024;

/// One partition to fetch: where the follower stands.
#[derive(Debug, Clone)]
pub struct FetchFrom {
    pub topic: String,
    pub partition: i32,
    pub leader_epoch: i32,
    pub fetch_offset: i64,
    pub log_start_offset: i64,
}

/// The leader's answer for one fetched partition.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub topic: String,
    pub partition: i32,
    pub error: Option<ResponseError>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub records: Bytes,
}

/// One partition whose epoch's end to ask for.
#[derive(Debug, Clone)]
pub struct EpochQuery {
    pub topic: String,
    pub partition: i32,
    pub current_leader_epoch: i32,
    pub epoch: i32,
}

/// Where the leader says an epoch ends: (`epoch`, `end_offset`), or an error code.
#[derive(Debug, Clone)]
pub struct EpochEnd {
    pub topic: String,
    pub partition: i32,
    pub error_code: i16,
    pub epoch: i32,
    pub end_offset: i64,
}

/// A transaction marker for some partitions of one leader (WriteTxnMarkers).
#[derive(Debug, Clone)]
pub struct MarkerFor {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub coordinator_epoch: i32,
    pub partitions: Vec<(String, i32)>,
}

/// A connection to another broker's Kafka listener.
#[derive(Debug)]
pub struct PeerClient {
    stream: TcpStream,
    codec: ClientCodec,
}

impl PeerClient {
    /// Connects to `addr` within `timeout`.
    pub async fn connect(addr: &str, client_id: String, timeout: Duration) -> std::io::Result<Self> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr)).await.map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, format!("connecting to {addr} timed out"))
        })??;
        stream.set_nodelay(true)?;
        Ok(Self { stream, codec: ClientCodec::new(client_id, MAX_RESPONSE) })
    }

    /// A follower's Fetch (replica id `replica`) of `partitions`, long-polling up to `wait_ms`.
    /// A refusal of the whole request is an error; per-partition errors are in the answers.
    pub async fn fetch(
        &mut self,
        replica: i32,
        (wait_ms, partition_max_bytes): (i32, i32),
        partitions: &[FetchFrom],
        timeout: Duration,
    ) -> std::io::Result<Vec<Fetched>> {
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for p in partitions {
            topics.entry(p.topic.as_str()).or_default().push(
                FetchPartition::default()
                    .with_partition(p.partition)
                    .with_current_leader_epoch(p.leader_epoch)
                    .with_fetch_offset(p.fetch_offset)
                    .with_last_fetched_epoch(-1)
                    .with_log_start_offset(p.log_start_offset)
                    .with_partition_max_bytes(partition_max_bytes),
            );
        }
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(replica))
            .with_max_wait_ms(wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(RESPONSE_MAX_BYTES)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(name, partitions)| FetchTopic::default().with_topic(topic(name)).with_partitions(partitions))
                    .collect(),
            );
        let response: FetchResponse = self.call(ApiKey::Fetch, FETCH_VERSION, &request, timeout).await?;
        if response.error_code != 0 {
            return Err(std::io::Error::other(format!("fetch refused with error {}", response.error_code)));
        }
        Ok(response
            .responses
            .into_iter()
            .flat_map(|t| {
                let name = t.topic.0.to_string();
                t.partitions.into_iter().map(move |p| Fetched {
                    topic: name.clone(),
                    partition: p.partition_index,
                    error: ResponseError::try_from_code(p.error_code),
                    high_watermark: p.high_watermark,
                    log_start_offset: p.log_start_offset,
                    records: p.records.unwrap_or_default(),
                })
            })
            .collect())
    }

    /// OffsetForLeaderEpoch (as replica `replica`): where each asked epoch ends at the leader.
    pub async fn epoch_ends(
        &mut self,
        replica: i32,
        queries: &[EpochQuery],
        timeout: Duration,
    ) -> std::io::Result<Vec<EpochEnd>> {
        let mut topics: BTreeMap<&str, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
        for q in queries {
            topics.entry(q.topic.as_str()).or_default().push(
                OffsetForLeaderPartition::default()
                    .with_partition(q.partition)
                    .with_current_leader_epoch(q.current_leader_epoch)
                    .with_leader_epoch(q.epoch),
            );
        }
        let request = OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(replica)).with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    OffsetForLeaderTopic::default().with_topic(topic(name)).with_partitions(partitions)
                })
                .collect(),
        );
        let response: OffsetForLeaderEpochResponse =
            self.call(ApiKey::OffsetForLeaderEpoch, EPOCH_VERSION, &request, timeout).await?;
        Ok(response
            .topics
            .into_iter()
            .flat_map(|t| {
                let name = t.topic.0.to_string();
                t.partitions.into_iter().map(move |p| EpochEnd {
                    topic: name.clone(),
                    partition: p.partition,
                    error_code: p.error_code,
                    epoch: p.leader_epoch,
                    end_offset: p.end_offset,
                })
            })
            .collect())
    }

    /// WriteTxnMarkers (v1) of one marker: each partition's error code (0: written and
    /// replicated).
    pub async fn write_txn_markers(
        &mut self,
        marker: &MarkerFor,
        timeout: Duration,
    ) -> std::io::Result<Vec<(String, i32, i16)>> {
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in &marker.partitions {
            topics.entry(t.as_str()).or_default().push(*p);
        }
        let request = WriteTxnMarkersRequest::default().with_markers(vec![
            WritableTxnMarker::default()
                .with_producer_id(ProducerId(marker.producer_id))
                .with_producer_epoch(marker.producer_epoch)
                .with_transaction_result(marker.commit)
                .with_coordinator_epoch(marker.coordinator_epoch)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(name, partitions)| {
                            WritableTxnMarkerTopic::default().with_name(topic(name)).with_partition_indexes(partitions)
                        })
                        .collect(),
                ),
        ]);
        let response: WriteTxnMarkersResponse = self.call(ApiKey::WriteTxnMarkers, 1, &request, timeout).await?;
        Ok(response
            .markers
            .into_iter()
            .flat_map(|m| m.topics)
            .flat_map(|t| {
                let name = t.name.0.to_string();
                t.partitions.into_iter().map(move |p| (name.clone(), p.partition_index, p.error_code))
            })
            .collect())
    }

    /// Sends `request` at `version` and reads its response, all within `timeout`.
    async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Req,
        timeout: Duration,
    ) -> std::io::Result<Resp> {
        tokio::time::timeout(timeout, self.round_trip(key, version, request))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the leader did not answer in time"))?
    }

    async fn round_trip<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Req,
    ) -> std::io::Result<Resp> {
        let frame = self.codec.encode(key, version, request).map_err(invalid)?;
        self.stream.write_all(&frame).await?;
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix).await?;
        let len = self.codec.response_len(prefix).map_err(invalid)?;
        let mut frame = bytes::BytesMut::zeroed(len);
        self.stream.read_exact(&mut frame).await?;
        self.codec.decode(key, version, frame.freeze()).map_err(invalid)
    }
}

fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}
