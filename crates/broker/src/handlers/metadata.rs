//! Metadata (key 3): the live brokers, the active controller, the cluster id, and the topics
//! asked for (all of them when the list is null, or empty at v0), creating unknown ones when
//! `auto.create.topics.enable` and the request allow it.
//!
//! The controller id given to clients is this broker, as a KRaft broker gives one of the brokers
//! (KIP-590): admin requests sent to it are forwarded to the active controller, so a client never
//! waits on a controller that has just died. `fjord_metadata_controller_id` shows the Raft leader.

use std::collections::BTreeMap;

use fjord_meta::{Command, MetadataImage, TopicInfo};
use fjord_protocol::ApiRange;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{Client, broker_id, topic_name};
use crate::error::validate_topic_name;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::Metadata, min: 0, max: 12 };

/// "Authorized operations were not requested."
const OPERATIONS_OMITTED: i32 = i32::MIN;

pub async fn handle(broker: &Broker, version: i16, request: MetadataRequest, _client: &Client) -> MetadataResponse {
    let all_topics = match &request.topics {
        None => true,
        Some(t) => t.is_empty() && version == 0,
    };
    let allow_create = broker.config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);

    let mut topics = Vec::new();
    if all_topics {
        let image = broker.image();
        topics.extend(image.topics.values().map(|t| describe(&image, t)));
    } else {
        for wanted in request.topics.unwrap_or_default() {
            topics.push(lookup(broker, wanted.name.map(|n| n.0.to_string()), wanted.topic_id, allow_create).await);
        }
    }

    let image = broker.image();
    let brokers = image
        .live_brokers()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(broker_id(b.id))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(b.port as i32)
                .with_rack(b.rack.clone().map(StrBytes::from_string))
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(image.cluster_id.clone())))
        .with_controller_id(broker_id(broker.config.node_id))
        .with_topics(topics)
        .with_cluster_authorized_operations(OPERATIONS_OMITTED)
}

async fn lookup(broker: &Broker, name: Option<String>, id: Uuid, allow_create: bool) -> MetadataResponseTopic {
    let image = broker.image();
    let Some(name) = name else {
        return match image.topic_by_id(id) {
            Some(t) => describe(&image, t),
            None => error_topic(None, id, ResponseError::UnknownTopicId),
        };
    };
    if let Some(t) = image.topic(&name) {
        return describe(&image, t);
    }
    if let Err(e) = validate_topic_name(&name) {
        return error_topic(Some(name), Uuid::nil(), e.code());
    }
    if !allow_create {
        return error_topic(Some(name), Uuid::nil(), ResponseError::UnknownTopicOrPartition);
    }
    let rf = broker.config.default_replication_factor.min(image.live_brokers().count().max(1) as i32);
    let command = Command::CreateTopic {
        name: name.clone(),
        id: Uuid::new_v4(),
        partitions: broker.config.num_partitions,
        replication_factor: rf,
        configs: BTreeMap::new(),
        assignment: None,
    };
    match broker.propose(command).await {
        Ok(_) | Err(BrokerError::Meta(fjord_meta::MetaError::TopicExists(_))) => {
            tracing::info!(topic = %name, "auto-created topic");
        }
        Err(e) => return error_topic(Some(name), Uuid::nil(), e.code()),
    }
    let image = broker.image();
    match image.topic(&name) {
        Some(t) => describe(&image, t),
        None => error_topic(Some(name), Uuid::nil(), ResponseError::LeaderNotAvailable),
    }
}

fn describe(image: &MetadataImage, topic: &TopicInfo) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            let live = image.is_live(p.leader);
            MetadataResponsePartition::default()
                .with_error_code(if live { 0 } else { ResponseError::LeaderNotAvailable.code() })
                .with_partition_index(p.index)
                .with_leader_id(broker_id(if live { p.leader } else { -1 }))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().copied().map(broker_id).collect())
                .with_isr_nodes(p.isr.iter().copied().map(broker_id).collect())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(&topic.name)))
        .with_topic_id(topic.id)
        .with_is_internal(matches!(topic.name.as_str(), "__consumer_offsets" | "__transaction_state"))
        .with_partitions(partitions)
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
}

fn error_topic(name: Option<String>, id: Uuid, error: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error.code())
        .with_name(name.map(|n| topic_name(&n)))
        .with_topic_id(id)
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &MetadataResponse, see: &mut dyn FnMut(i16)) {
    for t in &r.topics {
        see(t.error_code);
        t.partitions.iter().for_each(|p| see(p.error_code));
    }
}
