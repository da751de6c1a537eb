//! AlterConfigs (key 33): the legacy, non-incremental config change. The configs given for a topic
//! become its complete set of overrides — every override not named is removed — once each value
//! passes validation; `validate_only` checks without storing.
//!
//! Only topic resources can be altered: broker configs are static, so broker resources are refused
//! with INVALID_REQUEST (as is any other resource type). A resource named twice is refused, as are
//! entries without a value, in Kafka's words.

use std::collections::BTreeMap;

use fjord_protocol::ApiRange;
use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, ApiKey};

use super::{Client, configs};
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::AlterConfigs, min: 0, max: 2 };

pub async fn handle(broker: &Broker, _version: i16, request: AlterConfigsRequest, _client: &Client) -> AlterConfigsResponse {
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
    AlterConfigsResponse::default().with_responses(responses)
}

async fn alter(broker: &Broker, resource: &AlterConfigsResource, validate_only: bool) -> Result<(), BrokerError> {
    let name = resource.resource_name.as_str();
    let topic = configs::alterable_topic(broker, resource.resource_type, name)?;
    let nulls: Vec<&str> = resource.configs.iter().filter(|c| c.value.is_none()).map(|c| c.name.as_str()).collect();
    configs::refuse_nulls(&nulls)?;
    let overrides: BTreeMap<String, String> =
        resource.configs.iter().filter_map(|c| c.value.as_ref().map(|v| (c.name.to_string(), v.to_string()))).collect();
    configs::store_topic_configs(broker, &topic.name, overrides, validate_only).await
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &AlterConfigsResponse, see: &mut dyn FnMut(i16)) {
    r.responses.iter().for_each(|t| see(t.error_code));
}

#[cfg(test)]
mod tests {
    use kafka_protocol::ResponseError;
    use kafka_protocol::messages::alter_configs_request::AlterableConfig;
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::handlers::configs::tests::start;

    fn resource(kind: i8, name: &str, configs: &[(&str, Option<&str>)]) -> AlterConfigsResource {
        AlterConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_string(name.into()))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(StrBytes::from_string(k.to_string()))
                            .with_value(v.map(|v| StrBytes::from_string(v.into())))
                    })
                    .collect(),
            )
    }

    #[tokio::test]
    async fn replaces_the_whole_override_set() {
        let dir = tempfile::tempdir().unwrap();
        let running = start(dir.path(), &[]).await;
        let broker = &running.broker;
        let mut initial = BTreeMap::new();
        initial.insert("retention.ms".to_string(), "1000".to_string());
        broker
            .propose(fjord_meta::Command::CreateTopic {
                name: "t".into(),
                id: uuid::Uuid::new_v4(),
                partitions: 1,
                replication_factor: 1,
                configs: initial,
                assignment: None,
            })
            .await
            .unwrap();

        let request = AlterConfigsRequest::default().with_resources(vec![resource(
            configs::TOPIC,
            "t",
            &[("segment.bytes", Some("4096"))],
        )]);
        let response = handle(broker, 2, request, &Client::test()).await;
        assert_eq!(response.responses[0].error_code, 0);
        assert_eq!(response.responses[0].error_message, None);
        let configs = broker.image().topic("t").unwrap().configs.clone();
        assert_eq!(configs.into_iter().collect::<Vec<_>>(), vec![("segment.bytes".to_string(), "4096".to_string())]);

        let request = AlterConfigsRequest::default().with_resources(vec![
            resource(configs::TOPIC, "t", &[("retention.ms", Some("soon"))]),
            resource(configs::TOPIC, "missing", &[]),
            resource(configs::BROKER, "1", &[]),
            resource(configs::TOPIC, "t", &[("retention.ms", None)]),
        ]);
        let codes: Vec<i16> = handle(broker, 2, request, &Client::test()).await.responses.iter().map(|r| r.error_code).collect();
        assert_eq!(
            codes,
            vec![
                ResponseError::InvalidRequest.code(),
                ResponseError::UnknownTopicOrPartition.code(),
                ResponseError::InvalidRequest.code(),
                ResponseError::InvalidRequest.code(),
            ]
        );

        let request = AlterConfigsRequest::default().with_validate_only(true).with_resources(vec![resource(
            configs::TOPIC,
            "t",
            &[("retention.ms", Some("soon"))],
        )]);
        let response = handle(broker, 2, request, &Client::test()).await;
        assert_eq!(response.responses[0].error_code, ResponseError::InvalidConfig.code());
        assert!(response.responses[0].error_message.as_deref().unwrap().contains("retention.ms"));
    }
}
