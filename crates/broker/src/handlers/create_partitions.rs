//! CreatePartitions (key 37): raises topics' partition counts through the metadata log; the new
//! partitions are hosted (and writable) before the answer. A count can only grow.
//!
//! Manual assignments of the new partitions are checked (one per new partition, the topic's
//! replication factor, registered brokers only, none twice) and kept: the new partitions are
//! placed as listed; without one the controller places them. `validate_only` runs the checks and changes nothing. A topic
//! named twice in one request is refused, as Kafka does.

use std::collections::HashMap;

use fjord_meta::image::MAX_PARTITIONS;
use fjord_meta::{Command, MetaError, MetadataImage};
use fjord_protocol::ApiRange;
use kafka_protocol::messages::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{ApiKey, CreatePartitionsRequest, CreatePartitionsResponse};

use super::{Client, topic_name};
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::CreatePartitions, min: 0, max: 3 };

pub async fn handle(broker: &Broker, _version: i16, request: CreatePartitionsRequest, _client: &Client) -> CreatePartitionsResponse {
    let mut copies: HashMap<String, usize> = HashMap::new();
    for topic in &request.topics {
        *copies.entry(topic.name.0.to_string()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let outcome = match copies.get_mut(&name) {
            // A later copy of a repeated name: answered with the first.
            Some(0) => continue,
            Some(n) if *n > 1 => {
                *n = 0;
                Err(BrokerError::InvalidRequest("Duplicate topic name.".into()))
            }
            _ => grow(broker, topic, request.validate_only).await,
        };
        let result = CreatePartitionsTopicResult::default().with_name(topic_name(&name));
        results.push(match outcome {
            Ok(()) => result,
            Err(e) => result.with_error_code(e.error_code()).with_error_message(Some(e.message())),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}

async fn grow(broker: &Broker, topic: &CreatePartitionsTopic, validate_only: bool) -> Result<(), BrokerError> {
    let name = topic.name.0.as_str();
    check(&broker.image(), topic)?;
    if validate_only {
        return Ok(());
    }
    let assignment =
        topic.assignments.as_ref().map(|a| a.iter().map(|p| p.broker_ids.iter().map(|b| b.0).collect()).collect());
    broker.propose(Command::CreatePartitions { name: name.to_string(), count: topic.count, assignment }).await?;
    tracing::info!(topic = %name, count = topic.count, "added partitions");
    Ok(())
}

fn check(image: &MetadataImage, topic: &CreatePartitionsTopic) -> Result<(), BrokerError> {
    let name = topic.name.0.as_str();
    let info = image.topic(name).ok_or_else(|| MetaError::UnknownTopic(name.to_string()))?;
    let current = info.partitions.len() as i32;
    let count = topic.count;
    if count < current {
        return Err(BrokerError::InvalidPartitions(format!(
            "Topic currently has {current} partitions, which is higher than the requested {count}."
        )));
    }
    if count == current {
        return Err(BrokerError::InvalidPartitions(format!("Topic already has {current} partitions.")));
    }
    if count > MAX_PARTITIONS {
        return Err(BrokerError::InvalidPartitions(format!(
            "Number of partitions {count} is larger than the limit of {MAX_PARTITIONS}."
        )));
    }
    if let Some(assignments) = &topic.assignments {
        let replicas = info.partitions.first().map_or(1, |p| p.replicas.len());
        check_assignments(image, assignments, (count - current) as usize, replicas)?;
    }
    Ok(())
}

/// Checks the manual assignment of `added` new partitions of a topic with `replicas` replicas each.
fn check_assignments(
    image: &MetadataImage,
    assignments: &[CreatePartitionsAssignment],
    added: usize,
    replicas: usize,
) -> Result<(), BrokerError> {
    let fail = |why: String| Err(BrokerError::InvalidReplicaAssignment(why));
    if assignments.len() != added {
        return fail(format!(
            "Increasing the number of partitions by {added} but {} assignments provided.",
            assignments.len()
        ));
    }
    for (n, a) in assignments.iter().enumerate() {
        if a.broker_ids.len() != replicas {
            return fail(format!(
                "Inconsistent replication factor: new partition {n} has {} replica(s), the topic has {replicas}.",
                a.broker_ids.len()
            ));
        }
        for (i, id) in a.broker_ids.iter().enumerate() {
            if a.broker_ids[..i].contains(id) {
                return fail(format!("Duplicate brokers not allowed in replica assignment: broker {}.", id.0));
            }
            if !image.brokers.contains_key(&id.0) {
                return fail(format!("Unknown broker {} in replica assignment.", id.0));
            }
        }
    }
    Ok(())
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &CreatePartitionsResponse, see: &mut dyn FnMut(i16)) {
    r.results.iter().for_each(|t| see(t.error_code));
}

#[cfg(test)]
mod tests {
    use kafka_protocol::ResponseError;
    use kafka_protocol::messages::BrokerId;

    use super::*;
    use crate::handlers::configs::tests::start;

    fn topic(name: &str, count: i32, assignments: Option<Vec<Vec<i32>>>) -> CreatePartitionsTopic {
        CreatePartitionsTopic::default().with_name(topic_name(name)).with_count(count).with_assignments(
            assignments.map(|a| {
                a.into_iter()
                    .map(|ids| {
                        CreatePartitionsAssignment::default().with_broker_ids(ids.into_iter().map(BrokerId).collect())
                    })
                    .collect()
            }),
        )
    }

    #[tokio::test]
    async fn grows_topics_and_refuses_what_kafka_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let running = start(dir.path(), &[]).await;
        let broker = &running.broker;
        for name in ["a", "b"] {
            let command = Command::CreateTopic {
                name: name.into(),
                id: uuid::Uuid::new_v4(),
                partitions: 2,
                replication_factor: 1,
                configs: Default::default(),
                assignment: None,
            };
            broker.propose(command).await.unwrap();
        }
        let request = CreatePartitionsRequest::default().with_topics(vec![
            topic("a", 4, Some(vec![vec![1], vec![1]])),
            topic("b", 1, None),
            topic("b", 2, None),
            topic("nope", 3, None),
        ]);
        let response = handle(broker, 3, request, &Client::test()).await;
        let codes: Vec<i16> = response.results.iter().map(|r| r.error_code).collect();
        assert_eq!(codes, vec![0, ResponseError::InvalidRequest.code(), ResponseError::UnknownTopicOrPartition.code()]);
        assert_eq!(response.results[0].error_message, None);
        assert_eq!(broker.image().topic("a").unwrap().partitions.len(), 4);
        assert!(broker.replicas.partition("a", 3).is_some());

        let request = CreatePartitionsRequest::default().with_validate_only(true).with_topics(vec![
            topic("a", 3, None),
            topic("b", 2, None),
            topic("b2", 2, None),
        ]);
        let response = handle(broker, 3, request, &Client::test()).await;
        let messages: Vec<Option<&str>> = response.results.iter().map(|r| r.error_message.as_deref()).collect();
        assert_eq!(messages[0], Some("Topic currently has 4 partitions, which is higher than the requested 3."));
        assert_eq!(messages[1], Some("Topic already has 2 partitions."));

        let request = CreatePartitionsRequest::default().with_validate_only(true).with_topics(vec![
            topic("a", 6, Some(vec![vec![1]])),
            topic("b", 3, Some(vec![vec![2]])),
            topic("b", 3, None),
        ]);
        let codes: Vec<i16> = handle(broker, 3, request, &Client::test()).await.results.iter().map(|r| r.error_code).collect();
        assert_eq!(codes, vec![ResponseError::InvalidReplicaAssignment.code(), ResponseError::InvalidRequest.code()]);

        let request = CreatePartitionsRequest::default()
            .with_validate_only(true)
            .with_topics(vec![topic("a", 6, Some(vec![vec![1], vec![1]])), topic("b", 3, Some(vec![vec![2]]))]);
        let codes: Vec<i16> = handle(broker, 3, request, &Client::test()).await.results.iter().map(|r| r.error_code).collect();
        assert_eq!(codes, vec![0, ResponseError::InvalidReplicaAssignment.code()]);
        assert_eq!(broker.image().topic("a").unwrap().partitions.len(), 4, "validate_only changes nothing");
    }
}
