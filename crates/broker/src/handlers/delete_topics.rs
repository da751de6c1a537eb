//! DeleteTopics (key 20): deletes topics through the metadata log; each hosted partition's
//! directory goes with it before the answer. v0–5 name topics; v6 names them or gives their ids
//! (not both). A topic named twice in one request is refused, as Kafka does. `timeout_ms` is not
//! needed: the deletion is done when the proposal returns.

use std::collections::HashMap;

use fjord_meta::{Command, MetaError};
use fjord_protocol::ApiRange;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{ApiKey, DeleteTopicsRequest, DeleteTopicsResponse};
use uuid::Uuid;

use super::{Client, topic_name};
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::DeleteTopics, min: 1, max: 6 };

/// First version with error messages.
const MESSAGES_FROM: i16 = 5;
/// First version that may name topics by id.
const TOPIC_IDS_FROM: i16 = 6;

/// How a request names one topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Name(String),
    Id(Uuid),
    Both,
}

pub async fn handle(broker: &Broker, version: i16, request: DeleteTopicsRequest, _client: &Client) -> DeleteTopicsResponse {
    let targets: Vec<Target> = if version >= TOPIC_IDS_FROM {
        request.topics.iter().map(target).collect()
    } else {
        request.topic_names.iter().map(|n| Target::Name(n.0.to_string())).collect()
    };
    let mut copies: HashMap<Target, usize> = HashMap::new();
    for t in &targets {
        *copies.entry(t.clone()).or_default() += 1;
    }
    let mut responses = Vec::with_capacity(targets.len());
    for t in targets {
        let (name, id, outcome) = match copies.get_mut(&t) {
            // A later copy of a repeated topic: answered with the first.
            Some(0) => continue,
            Some(n) if *n > 1 && t != Target::Both => {
                *n = 0;
                let (name, id) = match &t {
                    Target::Name(n) => (Some(n.clone()), Uuid::nil()),
                    _ => (None, id_of(&t)),
                };
                let what = if name.is_some() { "name" } else { "id" };
                (name, id, Err(BrokerError::InvalidRequest(format!("Duplicate topic {what}."))))
            }
            _ => delete(broker, &t).await,
        };
        let mut result = DeletableTopicResult::default().with_name(name.map(|n| topic_name(&n)));
        if version >= TOPIC_IDS_FROM {
            result = result.with_topic_id(id);
        }
        if let Err(e) = outcome {
            result = result.with_error_code(e.error_code());
            if version >= MESSAGES_FROM {
                result = result.with_error_message(Some(e.message()));
            }
        }
        responses.push(result);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

fn target(state: &DeleteTopicState) -> Target {
    match (&state.name, state.topic_id) {
        (Some(_), id) if !id.is_nil() => Target::Both,
        (Some(name), _) => Target::Name(name.0.to_string()),
        (None, id) => Target::Id(id),
    }
}

fn id_of(target: &Target) -> Uuid {
    match target {
        Target::Id(id) => *id,
        _ => Uuid::nil(),
    }
}

/// Deletes one topic: (name, id, outcome) for the response.
async fn delete(broker: &Broker, target: &Target) -> (Option<String>, Uuid, Result<(), BrokerError>) {
    let image = broker.image();
    let topic = match target {
        Target::Both => {
            let e = BrokerError::InvalidRequest("You may not specify both topic name and topic id.".into());
            return (None, Uuid::nil(), Err(e));
        }
        Target::Name(name) => match image.topic(name) {
            Some(t) => t.clone(),
            None => return (Some(name.clone()), Uuid::nil(), Err(MetaError::UnknownTopic(name.clone()).into())),
        },
        Target::Id(id) => match image.topic_by_id(*id) {
            Some(t) => t.clone(),
            None => return (None, *id, Err(BrokerError::UnknownTopicId)),
        },
    };
    let name = topic.name.clone();
    let outcome = broker.propose(Command::DeleteTopic { name: name.clone() }).await.map(|_| ());
    if outcome.is_ok() {
        tracing::info!(topic = %name, id = %topic.id, "deleted topic");
        // At once here, before the answer; the other brokers' coordinators forget it as the
        // deletion reaches them (`server::follow_metadata`), this one's second pass finds nothing.
        broker.groups.forget_topic(&name).await;
    }
    (Some(name), topic.id, outcome)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &DeleteTopicsResponse, see: &mut dyn FnMut(i16)) {
    r.responses.iter().for_each(|t| see(t.error_code));
}

#[cfg(test)]
mod tests {
    use kafka_protocol::ResponseError;

    use super::*;
    use crate::handlers::configs::tests::start;

    async fn create(broker: &Broker, name: &str) -> Uuid {
        let id = Uuid::new_v4();
        let command = Command::CreateTopic {
            name: name.into(),
            id,
            partitions: 1,
            replication_factor: 1,
            configs: Default::default(),
            assignment: None,
        };
        broker.propose(command).await.unwrap();
        id
    }

    #[tokio::test]
    async fn deletes_by_name_and_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let running = start(dir.path(), &[]).await;
        let broker = &running.broker;
        create(broker, "a").await;
        let b = create(broker, "b").await;
        assert!(broker.replicas.partition("a", 0).is_some());

        let request = DeleteTopicsRequest::default().with_topic_names(vec![topic_name("a"), topic_name("nope")]);
        let response = handle(broker, 4, request, &Client::test()).await;
        let codes: Vec<i16> = response.responses.iter().map(|r| r.error_code).collect();
        assert_eq!(codes, vec![0, ResponseError::UnknownTopicOrPartition.code()]);
        assert!(response.responses.iter().all(|r| r.error_message.is_none()), "no messages before v5");
        assert!(broker.image().topic("a").is_none());
        assert!(broker.replicas.partition("a", 0).is_none());

        let by_id = |id: Uuid| DeleteTopicState::default().with_topic_id(id);
        let request = DeleteTopicsRequest::default().with_topics(vec![by_id(b), by_id(Uuid::new_v4())]);
        let response = handle(broker, 6, request, &Client::test()).await;
        let r = &response.responses;
        assert_eq!((r[0].error_code, r[0].name.as_ref().map(|n| n.0.as_str()), r[0].topic_id), (0, Some("b"), b));
        assert_eq!(r[1].error_code, ResponseError::UnknownTopicId.code());
        assert!(r[1].error_message.is_some());
        assert!(broker.image().topics.is_empty());

        create(broker, "c").await;
        let request = DeleteTopicsRequest::default().with_topic_names(vec![topic_name("c"), topic_name("c")]);
        let response = handle(broker, 5, request, &Client::test()).await;
        assert_eq!(response.responses.len(), 1);
        assert_eq!(response.responses[0].error_code, ResponseError::InvalidRequest.code());
        assert!(broker.image().topic("c").is_some());
    }
}
