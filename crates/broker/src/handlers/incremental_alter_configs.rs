//! IncrementalAlterConfigs (key 44): changes named topic configs and leaves the others alone.
//! Each entry is an operation on the topic's overrides: SET a value, DELETE the override (back to
//! the broker default), or APPEND to / SUBTRACT from a list config such as `cleanup.policy`. The
//! resulting override set is validated as a whole and stored (unless `validate_only`).
//!
//! APPEND and SUBTRACT start from the current override, else the effective broker default (Kafka
//! starts from the topic-level default, which ignores a broker-level `log.cleanup.policy`). The
//! read-modify-write is not atomic: two concurrent changes to one topic may lose one of them.
//! Broker and broker-logger resources are refused with INVALID_REQUEST, like other types.

use std::collections::{BTreeMap, HashSet};

use fjord_protocol::ApiRange;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::{Client, configs};
use crate::topic_config::{self, ConfigType, TopicDefaults};
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::IncrementalAlterConfigs, min: 0, max: 1 };

/// Kafka's AlterConfigOp types.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub async fn handle(broker: &Broker, _version: i16, request: IncrementalAlterConfigsRequest, _client: &Client) -> IncrementalAlterConfigsResponse {
    let repeated = configs::duplicates(request.resources.iter().map(|r| (r.resource_type, r.resource_name.as_str())));
    let mut responses = Vec::with_capacity(request.resources.len());
    for (resource, repeated) in request.resources.into_iter().zip(repeated) {
        let result = if repeated {
            Err(configs::duplicate_resource())
        } else {
            alter(broker, &resource, request.validate_only).await
        };
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name);
        responses.push(match result {
            Ok(()) => response.with_error_message(None),
            Err(e) => response.with_error_code(e.error_code()).with_error_message(Some(e.message())),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

async fn alter(broker: &Broker, resource: &AlterConfigsResource, validate_only: bool) -> Result<(), BrokerError> {
    let nulls: Vec<&str> = resource
        .configs
        .iter()
        .filter(|c| c.config_operation != DELETE && c.value.is_none())
        .map(|c| c.name.as_str())
        .collect();
    configs::refuse_nulls(&nulls)?;
    let topic = configs::alterable_topic(broker, resource.resource_type, resource.resource_name.as_str())?;
    let mut seen = HashSet::new();
    if !resource.configs.iter().all(|c| seen.insert(c.name.as_str())) {
        return Err(BrokerError::InvalidRequest("Error due to duplicate config keys".into()));
    }
    let overrides = apply(broker.replicas.defaults(), topic.configs.clone(), &resource.configs)?;
    configs::store_topic_configs(broker, &topic.name, overrides, validate_only).await
}

/// `overrides` after the operations `ops`, each on a distinct config.
fn apply(
    defaults: &TopicDefaults,
    mut overrides: BTreeMap<String, String>,
    ops: &[AlterableConfig],
) -> Result<BTreeMap<String, String>, BrokerError> {
    for op in ops {
        let name = op.name.to_string();
        let value = op.value.as_ref().map_or("", |v| v.as_str());
        match op.config_operation {
            SET => {
                overrides.insert(name, value.to_string());
            }
            DELETE => {
                overrides.remove(&name);
            }
            APPEND | SUBTRACT => {
                let kind = if op.config_operation == APPEND { "append" } else { "subtract" };
                let def = topic_config::def(&name)
                    .ok_or_else(|| BrokerError::InvalidConfig(format!("Unknown topic config name: {name}")))?;
                if def.kind != ConfigType::List {
                    return Err(BrokerError::InvalidConfig(format!(
                        "Config value {kind} is not allowed for config key: {name}"
                    )));
                }
                let current = list(defaults.value(&overrides, &name));
                let given = list(value);
                let next: Vec<&str> = if op.config_operation == APPEND {
                    let added = given.iter().filter(|v| !current.contains(v));
                    current.iter().chain(added).copied().collect()
                } else {
                    current.iter().filter(|v| !given.contains(v)).copied().collect()
                };
                let next = next.join(",");
                overrides.insert(name, next);
            }
            other => return Err(BrokerError::InvalidRequest(format!("Unknown operation type {other}"))),
        }
    }
    Ok(overrides)
}

/// The items of a comma-separated list value.
fn list(value: &str) -> Vec<&str> {
    value.split(',').map(str::trim).filter(|v| !v.is_empty()).collect()
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &IncrementalAlterConfigsResponse, see: &mut dyn FnMut(i16)) {
    r.responses.iter().for_each(|t| see(t.error_code));
}

#[cfg(test)]
mod tests {
    use kafka_protocol::ResponseError;
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::BrokerConfig;
    use crate::handlers::configs::tests::start;

    fn op(name: &str, operation: i8, value: Option<&str>) -> AlterableConfig {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(name.into()))
            .with_config_operation(operation)
            .with_value(value.map(|v| StrBytes::from_string(v.into())))
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn operations_follow_kafka() {
        let defaults = BrokerConfig::embedded_default().topic_defaults().unwrap();
        let start = map(&[("retention.ms", "1000"), ("segment.bytes", "4096")]);
        let ops = [
            op("retention.ms", DELETE, None),
            op("max.message.bytes", SET, Some("2048")),
            op("cleanup.policy", APPEND, Some("compact,delete")),
        ];
        let out = apply(&defaults, start.clone(), &ops).unwrap();
        assert_eq!(
            out,
            map(&[("cleanup.policy", "delete,compact"), ("max.message.bytes", "2048"), ("segment.bytes", "4096")])
        );
        let out = apply(&defaults, out, &[op("cleanup.policy", SUBTRACT, Some("delete"))]).unwrap();
        assert_eq!(out["cleanup.policy"], "compact");

        let e = apply(&defaults, start.clone(), &[op("retention.ms", APPEND, Some("1"))]).unwrap_err();
        assert_eq!(e.code(), ResponseError::InvalidConfig);
        let e = apply(&defaults, start, &[op("retention.ms", 9, Some("1"))]).unwrap_err();
        assert_eq!(e.code(), ResponseError::InvalidRequest);
    }

    #[tokio::test]
    async fn changes_only_the_named_configs() {
        let dir = tempfile::tempdir().unwrap();
        let running = start(dir.path(), &[]).await;
        let broker = &running.broker;
        broker
            .propose(fjord_meta::Command::CreateTopic {
                name: "t".into(),
                id: uuid::Uuid::new_v4(),
                partitions: 1,
                replication_factor: 1,
                configs: map(&[("retention.ms", "1000")]),
                assignment: None,
            })
            .await
            .unwrap();
        let resource = |ops: Vec<AlterableConfig>| {
            AlterConfigsResource::default()
                .with_resource_type(configs::TOPIC)
                .with_resource_name(StrBytes::from_static_str("t"))
                .with_configs(ops)
        };

        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![resource(vec![op(
            "segment.bytes",
            SET,
            Some("4096"),
        )])]);
        let response = handle(broker, 1, request, &Client::test()).await;
        assert_eq!(response.responses[0].error_code, 0);
        assert_eq!(
            broker.image().topic("t").unwrap().configs,
            map(&[("retention.ms", "1000"), ("segment.bytes", "4096")])
        );

        let request = IncrementalAlterConfigsRequest::default()
            .with_validate_only(true)
            .with_resources(vec![resource(vec![op("retention.ms", DELETE, None)])]);
        assert_eq!(handle(broker, 1, request, &Client::test()).await.responses[0].error_code, 0);
        assert!(broker.image().topic("t").unwrap().configs.contains_key("retention.ms"));

        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![resource(vec![op(
            "segment.bytes",
            SET,
            Some("1"),
        )])]);
        let response = handle(broker, 1, request, &Client::test()).await;
        assert_eq!(response.responses[0].error_code, ResponseError::InvalidConfig.code());

        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![resource(vec![op(
            "segment.bytes",
            SET,
            None,
        )])]);
        assert_eq!(handle(broker, 1, request, &Client::test()).await.responses[0].error_code, ResponseError::InvalidRequest.code());
    }
}
