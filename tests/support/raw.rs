//! Typed requests over a [`RawClient`] at fixed, non-flexible versions, for tests that check the
//! broker's answers field by field. Each returns the fields the tests assert on.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, FetchRequest, FetchResponse, ListOffsetsRequest,
    ListOffsetsResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use crate::RawClient;

/// The wall clock in milliseconds: record timestamps in tests must be current, or the broker's
/// retention would rightly delete a batch from 1970.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

pub fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// CreateTopics (v2) of one topic with one partition: its error code.
pub fn create_topic(client: &mut RawClient, topic: &str, configs: &[(&str, &str)]) -> Result<i16> {
    create_replicated_topic(client, topic, 1, configs)
}

/// CreateTopics (v2) of one topic with one partition and `replication_factor`: its error code.
pub fn create_replicated_topic(
    client: &mut RawClient,
    topic: &str,
    replication_factor: i16,
    configs: &[(&str, &str)],
) -> Result<i16> {
    create_topic_with(client, topic, (1, replication_factor), configs)
}

/// CreateTopics (v2) of one topic with (`partitions`, `replication_factor`): its error code.
pub fn create_topic_with(
    client: &mut RawClient,
    topic: &str,
    (partitions, replication_factor): (i32, i16),
    configs: &[(&str, &str)],
) -> Result<i16> {
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let request = CreateTopicsRequest::default().with_timeout_ms(5_000).with_topics(vec![
        CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(configs),
    ]);
    let mut frame = client.request(ApiKey::CreateTopics, 2, &request)?;
    Ok(CreateTopicsResponse::decode(&mut frame, 2)?.topics[0].error_code)
}

/// CreateTopics (v2) of one topic with a manual assignment (broker ids per partition, in
/// partition order): its error code.
pub fn create_assigned_topic(client: &mut RawClient, topic: &str, assignment: &[&[i32]]) -> Result<i16> {
    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::messages::create_topics_request::CreatableReplicaAssignment;
    let assignments = assignment
        .iter()
        .enumerate()
        .map(|(p, brokers)| {
            CreatableReplicaAssignment::default()
                .with_partition_index(p as i32)
                .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())
        })
        .collect();
    let request = CreateTopicsRequest::default().with_timeout_ms(5_000).with_topics(vec![
        CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(assignments),
    ]);
    let mut frame = client.request(ApiKey::CreateTopics, 2, &request)?;
    Ok(CreateTopicsResponse::decode(&mut frame, 2)?.topics[0].error_code)
}

/// A Produce request of one record set for partition 0.
pub fn produce_request(topic: &str, acks: i16, records: Vec<u8>) -> ProduceRequest {
    ProduceRequest::default().with_acks(acks).with_timeout_ms(5_000).with_topic_data(vec![
        TopicProduceData::default().with_name(name(topic)).with_partition_data(vec![
            PartitionProduceData::default().with_index(0).with_records(Some(Bytes::from(records))),
        ]),
    ])
}

/// Produce (v3, acks=all) of one record set to partition 0: (error code, base offset).
pub fn produce(client: &mut RawClient, topic: &str, records: Vec<u8>) -> Result<(i16, i64)> {
    produce_acks(client, topic, -1, records)
}

/// Produce (v3) with `acks` of one record set to partition 0: (error code, base offset).
pub fn produce_acks(client: &mut RawClient, topic: &str, acks: i16, records: Vec<u8>) -> Result<(i16, i64)> {
    let request = produce_request(topic, acks, records);
    let mut frame = client.request(ApiKey::Produce, 3, &request)?;
    let response = ProduceResponse::decode(&mut frame, 3)?;
    let p = &response.responses[0].partition_responses[0];
    Ok((p.error_code, p.base_offset))
}

/// A Fetch of partition 0 from `offset`, waiting up to `max_wait_ms` for at least one byte.
pub fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default().with_max_wait_ms(max_wait_ms).with_min_bytes(1).with_max_bytes(1 << 20).with_topics(vec![
        FetchTopic::default().with_topic(name(topic)).with_partitions(vec![
            FetchPartition::default().with_partition(0).with_fetch_offset(offset).with_partition_max_bytes(1 << 20),
        ]),
    ])
}

/// Fetch (v4) from partition 0 at `offset`: (error code, high watermark, record bytes).
pub fn fetch(client: &mut RawClient, topic: &str, offset: i64) -> Result<(i16, i64, Bytes)> {
    let mut frame = client.request(ApiKey::Fetch, 4, &fetch_request(topic, offset, 0))?;
    let response = FetchResponse::decode(&mut frame, 4)?;
    let p = &response.responses[0].partitions[0];
    Ok((p.error_code, p.high_watermark, p.records.clone().unwrap_or_default()))
}

/// ListOffsets (v1) for partition 0 (-2 earliest, -1 latest, else a timestamp): (error code, offset).
pub fn list_offset(client: &mut RawClient, topic: &str, timestamp: i64) -> Result<(i16, i64)> {
    let request = ListOffsetsRequest::default().with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(timestamp)]),
    ]);
    let mut frame = client.request(ApiKey::ListOffsets, 1, &request)?;
    let response = ListOffsetsResponse::decode(&mut frame, 1)?;
    let p = &response.topics[0].partitions[0];
    Ok((p.error_code, p.offset))
}

/// DeleteRecords (v1) before `offset` in partition 0: the error code.
pub fn delete_records(client: &mut RawClient, topic: &str, offset: i64) -> Result<i16> {
    use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
    let request = DeleteRecordsRequest::default().with_timeout_ms(5_000).with_topics(vec![
        DeleteRecordsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![DeleteRecordsPartition::default().with_partition_index(0).with_offset(offset)]),
    ]);
    let mut frame = client.request(ApiKey::DeleteRecords, 1, &request)?;
    Ok(DeleteRecordsResponse::decode(&mut frame, 1)?.topics[0].partitions[0].error_code)
}

/// FindCoordinator (v2) of `key` (key type 0 a group, 1 a transactional id): (error code, node id).
pub fn find_coordinator(client: &mut RawClient, key_type: i8, key: &str) -> Result<(i16, i32)> {
    use kafka_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
    let request =
        FindCoordinatorRequest::default().with_key(StrBytes::from_string(key.to_string())).with_key_type(key_type);
    let mut frame = client.request(ApiKey::FindCoordinator, 2, &request)?;
    let response = FindCoordinatorResponse::decode(&mut frame, 2)?;
    Ok((response.error_code, response.node_id.0))
}

/// ListOffsets (v2, read_committed) latest for partition 0: (error code, last stable offset).
pub fn list_offset_committed(client: &mut RawClient, topic: &str) -> Result<(i16, i64)> {
    let request = ListOffsetsRequest::default().with_isolation_level(1).with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)]),
    ]);
    let mut frame = client.request(ApiKey::ListOffsets, 2, &request)?;
    let response = ListOffsetsResponse::decode(&mut frame, 2)?;
    let p = &response.topics[0].partitions[0];
    Ok((p.error_code, p.offset))
}
