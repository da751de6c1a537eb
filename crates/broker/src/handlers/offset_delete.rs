//! OffsetDelete (key 47): drops a group's committed offsets for some partitions — refused with
//! GROUP_SUBSCRIBED_TO_TOPIC for topics a live member of the group consumes.

use fjord_protocol::ApiRange;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{ApiKey, OffsetDeleteRequest, OffsetDeleteResponse};

use super::{Client, topic_name};
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::OffsetDelete, min: 0, max: 0 };

pub async fn handle(broker: &Broker, _version: i16, request: OffsetDeleteRequest, _client: &Client) -> OffsetDeleteResponse {
    let partitions: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), p.partition_index)))
        .collect();
    let results = match broker.groups.delete_offsets(request.group_id.as_str(), partitions, subscribed_topics).await {
        Ok(results) => results,
        Err(e) => return OffsetDeleteResponse::default().with_error_code(e.error_code()),
    };
    let mut topics: Vec<OffsetDeleteResponseTopic> = Vec::new();
    for (topic, partition, result) in results {
        let code = result.err().map_or(0, |e| BrokerError::from(e).error_code());
        let answer = OffsetDeleteResponsePartition::default().with_partition_index(partition).with_error_code(code);
        match topics.last_mut() {
            Some(t) if t.name.as_str() == topic => t.partitions.push(answer),
            _ => topics
                .push(OffsetDeleteResponseTopic::default().with_name(topic_name(&topic)).with_partitions(vec![answer])),
        }
    }
    OffsetDeleteResponse::default().with_topics(topics)
}

/// The topics a consumer-protocol subscription (a member's JoinGroup metadata) names.
fn subscribed_topics(mut metadata: &[u8]) -> Vec<String> {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    if metadata.len() < 2 {
        return Vec::new();
    }
    let version = bytes::Buf::get_i16(&mut metadata);
    let mut rest = bytes::Bytes::copy_from_slice(metadata);
    ConsumerProtocolSubscription::decode(&mut rest, version.clamp(0, 3))
        .map(|sub| sub.topics.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &OffsetDeleteResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
    r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
}
