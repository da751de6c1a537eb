//! One module per Kafka API. Each declares its [`ApiRange`] (`API`) next to its handler; [`APIS`]
//! collects them, and the same list builds the version table that validates requests and answers
//! ApiVersions, so nothing is advertised that is not dispatched here.
//!
//! A handler takes the broker, the request header and the typed request, and returns the typed
//! response (`None` only for Produce with acks=0). Per-partition failures become error codes in
//! the response through [`BrokerError::error_code`](crate::BrokerError::error_code).

mod alter_configs;
mod api_versions;
mod configs;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod sync_group;

use fjord_protocol::{ApiRange, Request};
use kafka_protocol::messages::{BrokerId, RequestKind, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::Broker;

/// Every served API with its version range.
pub const APIS: &[ApiRange] = &[
    produce::API,
    fetch::API,
    list_offsets::API,
    metadata::API,
    api_versions::API,
    create_topics::API,
    delete_topics::API,
    delete_records::API,
    init_producer_id::API,
    describe_configs::API,
    alter_configs::API,
    create_partitions::API,
    incremental_alter_configs::API,
    describe_cluster::API,
    find_coordinator::API,
    join_group::API,
    sync_group::API,
    heartbeat::API,
    leave_group::API,
    offset_commit::API,
    offset_fetch::API,
    list_groups::API,
    describe_groups::API,
    delete_groups::API,
    offset_delete::API,
    offset_for_leader_epoch::API,
];

/// Who sent a request, as group members are described.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// The peer address as Kafka prints it (`/127.0.0.1`).
    pub host: String,
}

/// What the connection does after a request.
#[derive(Debug)]
pub enum Reply {
    Respond(Box<ResponseKind>),
    /// Produce with acks=0 that went well: the client expects no answer.
    Silent,
    /// Produce with acks=0 that failed: Kafka closes the connection, the only way such a client
    /// learns that something is wrong (it then refreshes its metadata).
    Close(String),
}

/// Runs the handler of `request`'s API.
pub async fn dispatch(broker: &Broker, request: Request, client: &Client) -> Reply {
    let version = request.header.request_api_version;
    let response = match request.body {
        RequestKind::Produce(r) => return produce::handle(broker, version, r).await,
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(broker, version, r).await),
        RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(list_offsets::handle(broker, version, r)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::handle(broker, version, r).await),
        RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api_versions::handle(broker, version, r)),
        RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(create_topics::handle(broker, version, r).await),
        RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(delete_topics::handle(broker, version, r).await),
        RequestKind::DeleteRecords(r) => ResponseKind::DeleteRecords(delete_records::handle(broker, version, r)),
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(init_producer_id::handle(broker, version, r).await)
        }
        RequestKind::DescribeConfigs(r) => ResponseKind::DescribeConfigs(describe_configs::handle(broker, version, r)),
        RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(alter_configs::handle(broker, version, r).await),
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(create_partitions::handle(broker, version, r).await)
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            ResponseKind::IncrementalAlterConfigs(incremental_alter_configs::handle(broker, version, r).await)
        }
        RequestKind::DescribeCluster(r) => ResponseKind::DescribeCluster(describe_cluster::handle(broker, version, r)),
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(find_coordinator::handle(broker, version, r).await)
        }
        RequestKind::JoinGroup(r) => ResponseKind::JoinGroup(join_group::handle(broker, version, r, client).await),
        RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(sync_group::handle(broker, version, r).await),
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(heartbeat::handle(broker, version, r)),
        RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(leave_group::handle(broker, version, r).await),
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(offset_commit::handle(broker, version, r).await),
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(offset_fetch::handle(broker, version, r)),
        RequestKind::ListGroups(r) => ResponseKind::ListGroups(list_groups::handle(broker, version, r)),
        RequestKind::DescribeGroups(r) => ResponseKind::DescribeGroups(describe_groups::handle(broker, version, r)),
        RequestKind::DeleteGroups(r) => ResponseKind::DeleteGroups(delete_groups::handle(broker, version, r).await),
        RequestKind::OffsetDelete(r) => ResponseKind::OffsetDelete(offset_delete::handle(broker, version, r).await),
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(broker, version, r))
        }
        other => {
            // The version table admits only the keys above; reaching this is a registry bug.
            tracing::error!(request = ?std::mem::discriminant(&other), "request without a handler");
            return Reply::Close("request without a handler".into());
        }
    };
    Reply::Respond(Box::new(response))
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
