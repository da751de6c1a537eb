//! One module per Kafka API, and `registry!`: the one list of served APIs. Each module declares
//! its [`ApiRange`] (`API`) next to its `handle` and its `errors` (where its response carries
//! error codes); the list generates the version table that validates requests and answers
//! ApiVersions ([`APIS`]), the dispatch to the handlers and the per-API error accounting, so no
//! API can be advertised without a handler or be left out of the metrics.
//!
//! A handler takes the broker, the request version, the typed request and the client, and
//! returns the typed response (or, for Produce with acks=0, an [`Answer`] that sends nothing).
//! Per-partition failures become error codes in the response through
//! [`BrokerError::error_code`](crate::BrokerError::error_code). These modules are the only ones of
//! the broker that speak Kafka's messages (with [`crate::replica::client`], the follower's side).

mod configs;

use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use fjord_protocol::request::Decoded;
use fjord_protocol::{ApiRange, ProtocolError, encode_response};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, BrokerId, RequestKind, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use tracing::Instrument;

use crate::Broker;

/// The served APIs: `Variant => module`, where `Variant` names the request and response in
/// `RequestKind`/`ResponseKind` and the module holds `API`, `handle` and `errors`.
macro_rules! registry {
    ($($variant:ident => $module:ident),+ $(,)?) => {
        $(mod $module;)+

        /// Every served API with its version range.
        pub const APIS: &[ApiRange] = &[$($module::API),+];

        // Each module's range is for the API it is listed under.
        $(const _: () = assert!($module::API.key as i16 == ApiKey::$variant as i16, "API listed under the wrong key");)+

        /// Runs the handler of `request`'s API: the response and the error codes it carries.
        async fn dispatch(broker: &Broker, request: fjord_protocol::Request, client: &Client) -> Answer<(ResponseKind, Vec<i16>)> {
            let version = request.header.request_api_version;
            match request.body {
                $(RequestKind::$variant(r) => {
                    let answer: Answer<_> = $module::handle(broker, version, r, client).await.into();
                    answer.map(|response| {
                        let mut errors = Vec::new();
                        $module::errors(&response, &mut |code| if code != 0 { errors.push(code) });
                        (ResponseKind::$variant(response), errors)
                    })
                })+
                // The version table admits only the keys listed above, so a request of another
                // API never decodes; this arm exists for the compiler.
                _ => Answer::Close(format!("no handler for API key {}", request.api_key as i16)),
            }
        }
    };
}

registry! {
    Produce => produce,
    Fetch => fetch,
    ListOffsets => list_offsets,
    Metadata => metadata,
    ApiVersions => api_versions,
    CreateTopics => create_topics,
    DeleteTopics => delete_topics,
    DeleteRecords => delete_records,
    InitProducerId => init_producer_id,
    AddPartitionsToTxn => add_partitions_to_txn,
    AddOffsetsToTxn => add_offsets_to_txn,
    EndTxn => end_txn,
    WriteTxnMarkers => write_txn_markers,
    TxnOffsetCommit => txn_offset_commit,
    DescribeConfigs => describe_configs,
    AlterConfigs => alter_configs,
    CreatePartitions => create_partitions,
    IncrementalAlterConfigs => incremental_alter_configs,
    DescribeCluster => describe_cluster,
    DescribeProducers => describe_producers,
    DescribeTransactions => describe_transactions,
    ListTransactions => list_transactions,
    FindCoordinator => find_coordinator,
    JoinGroup => join_group,
    SyncGroup => sync_group,
    Heartbeat => heartbeat,
    LeaveGroup => leave_group,
    OffsetCommit => offset_commit,
    OffsetFetch => offset_fetch,
    ListGroups => list_groups,
    DescribeGroups => describe_groups,
    DeleteGroups => delete_groups,
    OffsetDelete => offset_delete,
    OffsetForLeaderEpoch => offset_for_leader_epoch,
}

/// Who sent a request, as group members are described.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// The peer address as Kafka prints it (`/127.0.0.1`).
    pub host: String,
}

impl Client {
    /// A client for handler tests.
    #[cfg(test)]
    pub(crate) fn test() -> Self {
        Self { id: "test".into(), host: "/127.0.0.1".into() }
    }
}

/// What a handler answers.
#[derive(Debug)]
pub enum Answer<T> {
    Respond(T),
    /// Produce with acks=0 that went well: the client expects no answer.
    Silent,
    /// Produce with acks=0 that failed: Kafka closes the connection, the only way such a client
    /// learns that something is wrong (it then refreshes its metadata).
    Close(String),
}

impl<T> From<T> for Answer<T> {
    fn from(response: T) -> Self {
        Answer::Respond(response)
    }
}

impl<T> Answer<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Respond(t) => Answer::Respond(f(t)),
            Answer::Silent => Answer::Silent,
            Answer::Close(why) => Answer::Close(why),
        }
    }
}

/// What a request leaves the connection to do.
#[derive(Debug)]
pub enum Outcome {
    /// Write this whole response frame.
    Send(BytesMut),
    /// Produce with acks=0: no response.
    Nothing,
    Close(String),
}

/// Runs one decoded request from `peer`: its handler, its metrics and its encoded response.
pub async fn respond(broker: &Broker, decoded: Decoded, peer: SocketAddr) -> Result<Outcome, ProtocolError> {
    match decoded {
        Decoded::Request(request) => {
            let started = Instant::now();
            let (key, version, correlation_id) =
                (request.api_key, request.header.request_api_version, request.header.correlation_id);
            let client = Client {
                id: request.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default(),
                host: format!("/{}", peer.ip()),
            };
            let span =
                tracing::debug_span!("request", api = ?key, version, correlation_id, client_id = %client.id, %peer);
            let answer = dispatch(broker, *request, &client).instrument(span.clone()).await;
            let (outcome, errors) = match answer {
                Answer::Respond((body, errors)) => {
                    (encode_response(key, version, correlation_id, &body).map(Outcome::Send), errors)
                }
                Answer::Silent => (Ok(Outcome::Nothing), Vec::new()),
                Answer::Close(why) => (Ok(Outcome::Close(why)), Vec::new()),
            };
            let elapsed = started.elapsed();
            broker.telemetry.request(key as i16, version, elapsed, &errors);
            tracing::debug!(parent: &span, duration_us = elapsed.as_micros() as u64, "request done");
            outcome
        }
        Decoded::ApiVersionsFallback { correlation_id } => {
            let body = broker.versions.api_versions_response(ResponseError::UnsupportedVersion.code());
            encode_response(ApiKey::ApiVersions, 0, correlation_id, &ResponseKind::ApiVersions(body)).map(Outcome::Send)
        }
        Decoded::LegacyProduce { header, request } => {
            if request.acks == 0 {
                return Ok(Outcome::Close("acks=0 produce in an unsupported message format".into()));
            }
            let mut out = BytesMut::new();
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&header.correlation_id.to_be_bytes());
            request.encode_response(
                header.request_api_version,
                ResponseError::UnsupportedForMessageFormat.code(),
                &mut out,
            );
            fjord_protocol::response::patch_length(&mut out);
            Ok(Outcome::Send(out))
        }
    }
}

/// A topic name for a response.
pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// A broker id for a response.
pub(crate) fn broker_id(id: i32) -> BrokerId {
    BrokerId(id)
}

/// An optional message for a response.
pub(crate) fn message(text: impl Into<String>) -> Option<StrBytes> {
    Some(StrBytes::from_string(text.into()))
}

/// The code of a transaction coordinator's error `e` for a request of `version`, where
/// PRODUCER_FENCED exists from version `fenced_from`: older clients know only
/// INVALID_PRODUCER_EPOCH, which Kafka answers them instead.
pub(crate) fn txn_error_code(e: &crate::BrokerError, version: i16, fenced_from: i16) -> i16 {
    let code = e.error_code();
    if code == ResponseError::ProducerFenced.code() && version < fenced_from {
        ResponseError::InvalidProducerEpoch.code()
    } else {
        code
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::ProduceResponse;
    use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};

    use super::*;

    #[test]
    fn every_failed_partition_counts() {
        let partitions = [0, 3, 3, 0, 10].map(|code| PartitionProduceResponse::default().with_error_code(code));
        let response = ProduceResponse::default()
            .with_responses(vec![TopicProduceResponse::default().with_partition_responses(partitions.to_vec())]);
        let mut seen = Vec::new();
        produce::errors(&response, &mut |c| seen.push(c));
        assert_eq!(seen, [0, 3, 3, 0, 10], "every entry is seen; the registry keeps the non-zero ones");
    }

    #[test]
    fn the_registry_serves_each_api_once() {
        let mut keys: Vec<i16> = APIS.iter().map(|a| a.key as i16).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "an API listed twice");
    }
}
