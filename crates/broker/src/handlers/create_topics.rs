//! CreateTopics (key 19): creates each requested topic through the metadata log, with its
//! partition count, replication factor and config overrides, each checked the way Kafka checks
//! them; `validate_only` runs every check (existence and broker count included) and creates
//! nothing. -1 partitions or replication factor means the broker's `num.partitions` and
//! `default.replication.factor`.
//!
//! A manual replica assignment is checked (partitions numbered 0.., one replica count, only
//! registered brokers, none twice), fixes the partition count and replication factor, and is
//! kept: the controller places the partitions as listed. A replication factor above 1 is refused
//! until partitions replicate. v5+ answers
//! with the topic's configs as DescribeConfigs would list them; v7+ with its id. `timeout_ms` is
//! not needed: a topic is ready when the proposal returns.

use std::collections::{BTreeMap, HashMap};

use fjord_meta::image::MAX_PARTITIONS;
use fjord_meta::{Command, MetaError, MetadataImage};
use fjord_protocol::ApiRange;
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{Client, configs, topic_name};
use crate::error::validate_topic_name;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::CreateTopics, min: 2, max: 7 };

/// First version whose results carry partitions, replication factor and configs.
const DETAILS_FROM: i16 = 5;
/// First version whose results carry the topic id.
const TOPIC_IDS_FROM: i16 = 7;

/// A topic that passed every check.
#[derive(Debug)]
struct Plan {
    partitions: i32,
    replication_factor: i16,
    configs: BTreeMap<String, String>,
}

pub async fn handle(broker: &Broker, version: i16, request: CreateTopicsRequest, _client: &Client) -> CreateTopicsResponse {
    let mut copies: HashMap<String, usize> = HashMap::new();
    for topic in &request.topics {
        *copies.entry(topic.name.0.to_string()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let result = CreatableTopicResult::default().with_name(topic_name(&name));
        let outcome = match copies.get_mut(&name) {
            // A later copy of a repeated name: answered with the first.
            Some(0) => continue,
            Some(n) if *n > 1 => {
                *n = 0;
                Err(BrokerError::InvalidRequest("Duplicate topic name.".into()))
            }
            _ => create(broker, topic, request.validate_only).await,
        };
        results.push(match outcome {
            Ok((id, plan)) => success(broker, version, result, id, plan),
            Err(e) => result.with_error_code(e.error_code()).with_error_message(Some(e.message())),
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}

/// Checks one topic and, unless `validate_only`, creates it: its id (nil when only validated).
async fn create(broker: &Broker, topic: &CreatableTopic, validate_only: bool) -> Result<(Uuid, Plan), BrokerError> {
    let name = topic.name.0.as_str();
    let plan = check(broker, &broker.image(), topic)?;
    if validate_only {
        return Ok((Uuid::nil(), plan));
    }
    let id = Uuid::new_v4();
    broker
        .propose(Command::CreateTopic {
            name: name.to_string(),
            id,
            partitions: plan.partitions,
            replication_factor: i32::from(plan.replication_factor),
            configs: plan.configs.clone(),
            assignment: manual_assignment(topic),
        })
        .await?;
    tracing::info!(topic = %name, %id, partitions = plan.partitions, replication_factor = plan.replication_factor, "created topic");
    Ok((id, plan))
}

/// The request's manual assignment, one broker list per partition in partition order (checked
/// by [`check_assignments`]); `None` when the controller is to place the replicas.
fn manual_assignment(topic: &CreatableTopic) -> Option<Vec<Vec<i32>>> {
    if topic.assignments.is_empty() {
        return None;
    }
    let mut assigned: Vec<_> = topic.assignments.iter().collect();
    assigned.sort_by_key(|a| a.partition_index);
    Some(assigned.iter().map(|a| a.broker_ids.iter().map(|b| b.0).collect()).collect())
}

fn check(broker: &Broker, image: &MetadataImage, topic: &CreatableTopic) -> Result<Plan, BrokerError> {
    let name = topic.name.0.as_str();
    validate_topic_name(name)?;
    if image.topic(name).is_some() {
        return Err(MetaError::TopicExists(name.to_string()).into());
    }
    // '.' and '_' collide in metric names, so Kafka refuses names that differ only by them.
    let flat = name.replace('.', "_");
    if let Some(other) = image.topics.keys().find(|t| t.replace('.', "_") == flat) {
        return Err(BrokerError::InvalidTopic(format!("Topic '{name}' collides with existing topic: {other}")));
    }

    let nulls: Vec<&str> = topic.configs.iter().filter(|c| c.value.is_none()).map(|c| c.name.as_str()).collect();
    if !nulls.is_empty() {
        return Err(BrokerError::InvalidConfig(format!(
            "Null value not supported for topic configs: {}",
            nulls.join(",")
        )));
    }
    let configs: BTreeMap<String, String> =
        topic.configs.iter().filter_map(|c| c.value.as_ref().map(|v| (c.name.to_string(), v.to_string()))).collect();

    let (partitions, replication_factor) = if topic.assignments.is_empty() {
        let partitions = match topic.num_partitions {
            -1 => broker.config.num_partitions,
            n if n < 1 => {
                return Err(BrokerError::InvalidPartitions(
                    "Number of partitions was set to an invalid non-positive value.".into(),
                ));
            }
            n => n,
        };
        let replication_factor = match topic.replication_factor {
            -1 => broker.config.default_replication_factor as i16,
            n => n,
        };
        (partitions, replication_factor)
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(BrokerError::InvalidRequest(
                "Both numPartitions or replicationFactor and replicasAssignments were set. \
                 Both cannot be used at the same time."
                    .into(),
            ));
        }
        check_assignments(image, &topic.assignments)?
    };
    if partitions > MAX_PARTITIONS {
        return Err(BrokerError::InvalidPartitions(format!(
            "Number of partitions {partitions} is larger than the limit of {MAX_PARTITIONS}."
        )));
    }
    let available = image.live_brokers().count();
    if replication_factor < 1 || replication_factor as usize > available {
        return Err(MetaError::InvalidReplicationFactor { requested: i32::from(replication_factor), available }.into());
    }
    configs::validate_overrides(&configs)?;
    Ok(Plan { partitions, replication_factor, configs })
}

/// Checks a manual assignment: (partition count, replication factor).
fn check_assignments(
    image: &MetadataImage,
    assignments: &[CreatableReplicaAssignment],
) -> Result<(i32, i16), BrokerError> {
    let fail = |why: String| Err(BrokerError::InvalidReplicaAssignment(why));
    let mut indexes: Vec<i32> = assignments.iter().map(|a| a.partition_index).collect();
    indexes.sort_unstable();
    if indexes.iter().enumerate().any(|(i, p)| *p != i as i32) {
        return fail("Partitions should be a consecutive 0-based integer sequence".into());
    }
    let replicas = assignments[0].broker_ids.len();
    for a in assignments {
        let p = a.partition_index;
        if a.broker_ids.is_empty() {
            return fail(format!("The manual partition assignment of partition {p} is an empty replica list."));
        }
        if a.broker_ids.len() != replicas {
            return fail(format!(
                "The manual partition assignment of partition {p} has {} replica(s), but earlier partitions have {replicas}.",
                a.broker_ids.len()
            ));
        }
        for (i, id) in a.broker_ids.iter().enumerate() {
            if a.broker_ids[..i].contains(id) {
                return fail(format!("The manual partition assignment of partition {p} names broker {} twice.", id.0));
            }
            if !image.brokers.contains_key(&id.0) {
                return fail(format!(
                    "The manual partition assignment of partition {p} names broker {}, which is not registered.",
                    id.0
                ));
            }
        }
    }
    let replication_factor = i16::try_from(replicas)
        .map_err(|_| BrokerError::InvalidReplicaAssignment(format!("{replicas} replicas are too many")))?;
    Ok((assignments.len() as i32, replication_factor))
}

fn success(broker: &Broker, version: i16, result: CreatableTopicResult, id: Uuid, plan: Plan) -> CreatableTopicResult {
    let mut result = result.with_error_message(None);
    if version >= DETAILS_FROM {
        let configs = broker
            .replicas
            .defaults()
            .effective(&plan.configs)
            .map(|(def, value, source)| {
                CreatableTopicConfigs::default()
                    .with_name(StrBytes::from_static_str(def.name))
                    .with_value(Some(StrBytes::from_string(value.to_string())))
                    .with_read_only(false)
                    .with_config_source(source as i8)
                    .with_is_sensitive(false)
            })
            .collect();
        result = result
            .with_num_partitions(plan.partitions)
            .with_replication_factor(plan.replication_factor)
            .with_configs(Some(configs));
    }
    if version >= TOPIC_IDS_FROM {
        result = result.with_topic_id(id);
    }
    result
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &CreateTopicsResponse, see: &mut dyn FnMut(i16)) {
    r.topics.iter().for_each(|t| see(t.error_code));
}

#[cfg(test)]
mod tests {
    use kafka_protocol::ResponseError;
    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;

    use super::*;
    use crate::handlers::configs::tests::start;

    fn topic(name: &str, partitions: i32, rf: i16) -> CreatableTopic {
        CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(rf)
    }

    fn config(name: &'static str, value: Option<&'static str>) -> CreatableTopicConfig {
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str(name))
            .with_value(value.map(StrBytes::from_static_str))
    }

    fn assignment(index: i32, brokers: &[i32]) -> CreatableReplicaAssignment {
        CreatableReplicaAssignment::default()
            .with_partition_index(index)
            .with_broker_ids(brokers.iter().copied().map(BrokerId).collect())
    }

    fn codes(response: &CreateTopicsResponse) -> Vec<(String, i16)> {
        response.topics.iter().map(|t| (t.name.0.to_string(), t.error_code)).collect()
    }

    #[tokio::test]
    async fn creates_with_defaults_and_reports_the_configs() {
        let dir = tempfile::tempdir().unwrap();
        let running = start(dir.path(), &[("num.partitions", "3")]).await;
        let broker = &running.broker;
        let request = CreateTopicsRequest::default().with_topics(vec![
            topic("a", -1, -1).with_configs(vec![config("retention.ms", Some("1000"))]),
            topic("b", 2, 1).with_assignments(vec![assignment(0, &[1])]),
            topic("c", -1, -1).with_assignments(vec![assignment(1, &[1]), assignment(0, &[1])]),
        ]);
        let response = handle(broker, 7, request, &Client::test()).await;
        assert_eq!(codes(&response)[1].1, ResponseError::InvalidRequest.code());
        let a = &response.topics[0];
        assert_eq!((a.error_code, a.error_message.as_ref(), a.num_partitions, a.replication_factor), (0, None, 3, 1));
        assert_eq!(broker.image().topic("a").unwrap().id, a.topic_id);
        let retention = a.configs.as_ref().unwrap().iter().find(|c| c.name.as_str() == "retention.ms").unwrap();
        assert_eq!((retention.value.as_deref(), retention.config_source), (Some("1000"), 1));
        assert_eq!((response.topics[2].error_code, response.topics[2].num_partitions), (0, 2));
        assert_eq!(broker.image().topic("c").unwrap().partitions.len(), 2);
        assert!(broker.replicas.partition("a", 2).is_some());
    }

    #[tokio::test]
    async fn refuses_what_kafka_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let running = start(dir.path(), &[]).await;
        let broker = &running.broker;
        let created = handle(broker, 4, CreateTopicsRequest::default().with_topics(vec![topic("x.y", 1, 1)]), &Client::test()).await;
        assert_eq!(created.topics[0].error_code, 0);
        let request = CreateTopicsRequest::default().with_topics(vec![
            topic("x.y", 1, 1),
            topic("x_y", 1, 1),
            topic("bad name", 1, 1),
            topic("d", 1, 1),
            topic("d", 2, 1),
            topic("rf", 1, 2),
            topic("p0", 0, 1),
            topic("cfg", 1, 1).with_configs(vec![config("retention.ms", Some("soon"))]),
            topic("null", 1, 1).with_configs(vec![config("retention.ms", None)]),
            topic("who", -1, -1).with_assignments(vec![assignment(0, &[9])]),
            topic("ok", 1, 1),
        ]);
        let response = handle(broker, 7, request.with_validate_only(true), &Client::test()).await;
        let expected = [
            ("x.y", ResponseError::TopicAlreadyExists),
            ("x_y", ResponseError::InvalidTopicException),
            ("bad name", ResponseError::InvalidTopicException),
            ("d", ResponseError::InvalidRequest),
            ("rf", ResponseError::InvalidReplicationFactor),
            ("p0", ResponseError::InvalidPartitions),
            ("cfg", ResponseError::InvalidConfig),
            ("null", ResponseError::InvalidConfig),
            ("who", ResponseError::InvalidReplicaAssignment),
        ];
        let mut want: Vec<(String, i16)> = expected.iter().map(|(n, e)| (n.to_string(), e.code())).collect();
        want.push(("ok".into(), 0));
        assert_eq!(codes(&response), want);
        assert!(response.topics.iter().all(|t| (t.error_code == 0) == t.error_message.is_none()));
        assert_eq!(response.topics[9].num_partitions, 1, "the repeated name is answered once");
        assert!(broker.image().topic("ok").is_none(), "validate_only creates nothing");
    }
}
