//! DescribeConfigs (key 32): the configs of topics and of this broker, each with its effective
//! value and where that value comes from, so admin tools show defaults as Kafka does.
//!
//! A topic lists every topic config: its override, else the broker property it has as synonym
//! when set, else the default. With `include_synonyms` each config also lists those layers in
//! order of precedence, and with `include_documentation` (v3+) its meaning. A broker (named by its
//! node id, or empty) lists every broker property, all read-only since none can change at run
//! time. Broker loggers are not supported (INVALID_REQUEST). When `configuration_keys` names
//! configs, only those are listed; unknown names are left out, as Kafka does.

use fjord_meta::MetaError;
use fjord_protocol::ApiRange;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Client, configs};
use crate::config::{PROPERTIES, PropertyDef};
use crate::error::validate_topic_name;
use crate::topic_config::{ConfigSource, ConfigType};
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::DescribeConfigs, min: 1, max: 4 };

/// First version with config types and documentation.
const TYPES_FROM: i16 = 3;

/// What the request asks to see of each config.
#[derive(Debug, Clone, Copy)]
struct Detail {
    version: i16,
    synonyms: bool,
    documentation: bool,
}

pub async fn handle(broker: &Broker, version: i16, request: DescribeConfigsRequest, _client: &Client) -> DescribeConfigsResponse {
    let detail = Detail {
        version,
        synonyms: request.include_synonyms,
        documentation: version >= TYPES_FROM && request.include_documentation,
    };
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match describe(broker, &resource, detail) {
                Ok(entries) => result.with_error_message(None).with_configs(entries),
                Err(e) => result.with_error_code(e.error_code()).with_error_message(Some(e.message())),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn describe(
    broker: &Broker,
    resource: &DescribeConfigsResource,
    detail: Detail,
) -> Result<Vec<DescribeConfigsResourceResult>, BrokerError> {
    // Kafka treats an empty key list like a null one: everything.
    let wanted = |name: &str| match &resource.configuration_keys {
        Some(keys) if !keys.is_empty() => keys.iter().any(|k| k.as_str() == name),
        _ => true,
    };
    let name = resource.resource_name.as_str();
    match resource.resource_type {
        configs::TOPIC => {
            validate_topic_name(name)?;
            let image = broker.image();
            let topic = image.topic(name).ok_or_else(|| MetaError::UnknownTopic(name.to_string()))?;
            let defaults = broker.replicas.defaults();
            Ok(defaults
                .effective(&topic.configs)
                .filter(|(def, _, _)| wanted(def.name))
                .map(|(def, value, source)| {
                    let mut synonyms = Vec::new();
                    if detail.synonyms {
                        if let Some(v) = topic.configs.get(def.name) {
                            synonyms.push(synonym(def.name, v, ConfigSource::Topic));
                        }
                        let property = def.synonym.and_then(|p| PROPERTIES.iter().find(|d| d.name == p));
                        if let Some(p) = property.filter(|p| broker.config.is_set(p.name)) {
                            synonyms.push(synonym(p.name, &broker.config.value(p.name), ConfigSource::StaticBroker));
                        }
                        let (default_name, default) = property.map_or((def.name, def.default), |p| (p.name, p.default));
                        synonyms.push(synonym(default_name, default, ConfigSource::Default));
                    }
                    entry(def.name, value, source, false, def.kind, def.doc, detail).with_synonyms(synonyms)
                })
                .collect())
        }
        configs::BROKER => {
            configs::check_node_id(broker, name)?;
            Ok(PROPERTIES
                .iter()
                .filter(|p| wanted(p.name))
                .map(|p| {
                    let value = broker.config.value(p.name);
                    let set = broker.config.is_set(p.name);
                    let source = if set { ConfigSource::StaticBroker } else { ConfigSource::Default };
                    let mut synonyms = Vec::new();
                    if detail.synonyms {
                        if set {
                            synonyms.push(synonym(p.name, &value, ConfigSource::StaticBroker));
                        }
                        synonyms.push(synonym(p.name, p.default, ConfigSource::Default));
                    }
                    entry(p.name, &value, source, true, property_type(p), p.doc, detail).with_synonyms(synonyms)
                })
                .collect())
        }
        configs::BROKER_LOGGER => Err(BrokerError::InvalidRequest("describing broker loggers is not supported".into())),
        other => Err(BrokerError::InvalidRequest(format!("Unsupported resource type: {other}"))),
    }
}

fn entry(
    name: &str,
    value: &str,
    source: ConfigSource,
    read_only: bool,
    kind: ConfigType,
    doc: &str,
    detail: Detail,
) -> DescribeConfigsResourceResult {
    let entry = DescribeConfigsResourceResult::default()
        .with_name(text(name))
        .with_value(Some(text(value)))
        .with_read_only(read_only)
        .with_config_source(source as i8)
        .with_is_sensitive(false)
        .with_documentation(detail.documentation.then(|| text(doc)));
    if detail.version >= TYPES_FROM { entry.with_config_type(kind as i8) } else { entry }
}

fn synonym(name: &str, value: &str, source: ConfigSource) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default().with_name(text(name)).with_value(Some(text(value))).with_source(source as i8)
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The value type of a broker property, as Kafka declares the property of the same name.
fn property_type(p: &PropertyDef) -> ConfigType {
    match p.default {
        "true" | "false" => ConfigType::Boolean,
        d if d.parse::<i64>().is_ok() => {
            if p.name.ends_with(".ms") || p.name == "log.retention.bytes" {
                ConfigType::Long
            } else {
                ConfigType::Int
            }
        }
        _ if matches!(p.name, "log.cleanup.policy" | "controller.quorum.voters") => ConfigType::List,
        _ => ConfigType::String,
    }
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &DescribeConfigsResponse, see: &mut dyn FnMut(i16)) {
    r.results.iter().for_each(|t| see(t.error_code));
}

#[cfg(test)]
mod tests {
    use kafka_protocol::ResponseError;

    use super::*;
    use crate::handlers::configs::tests::start;

    fn resource(kind: i8, name: &'static str, keys: Option<Vec<&'static str>>) -> DescribeConfigsResource {
        DescribeConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_static_str(name))
            .with_configuration_keys(keys.map(|k| k.into_iter().map(StrBytes::from_static_str).collect()))
    }

    #[tokio::test]
    async fn topics_show_each_layer_of_their_configs() {
        let dir = tempfile::tempdir().unwrap();
        let running = start(dir.path(), &[("log.retention.ms", "5000")]).await;
        let broker = &running.broker;
        let mut overrides = std::collections::BTreeMap::new();
        overrides.insert("segment.bytes".to_string(), "4096".to_string());
        broker
            .propose(fjord_meta::Command::CreateTopic {
                name: "t".into(),
                id: uuid::Uuid::new_v4(),
                partitions: 1,
                replication_factor: 1,
                configs: overrides,
                assignment: None,
            })
            .await
            .unwrap();

        let request = DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_include_documentation(true)
            .with_resources(vec![
                resource(configs::TOPIC, "t", None),
                resource(configs::TOPIC, "missing", None),
                resource(configs::TOPIC, "t", Some(vec!["retention.ms", "nope"])),
                resource(configs::BROKER, "1", Some(vec!["num.partitions"])),
                resource(configs::BROKER, "7", None),
                resource(configs::BROKER_LOGGER, "1", None),
            ]);
        let response = handle(broker, 4, request, &Client::test()).await;
        let r = &response.results;
        assert_eq!(r[0].error_code, 0);
        assert_eq!(r[0].error_message, None);
        assert_eq!(r[0].configs.len(), crate::topic_config::TOPIC_CONFIGS.len());
        let segment = r[0].configs.iter().find(|c| c.name.as_str() == "segment.bytes").unwrap();
        assert_eq!((segment.value.as_deref(), segment.config_source), (Some("4096"), 1));
        assert_eq!(segment.config_type, ConfigType::Int as i8);
        assert_eq!(segment.synonyms.iter().map(|s| s.source).collect::<Vec<_>>(), vec![1, 5]);
        assert_eq!(segment.synonyms[1].name.as_str(), "log.segment.bytes");
        assert!(segment.documentation.is_some());

        assert_eq!(r[1].error_code, ResponseError::UnknownTopicOrPartition.code());
        assert_eq!(r[2].configs.len(), 1);
        let retention = &r[2].configs[0];
        assert_eq!((retention.value.as_deref(), retention.config_source), (Some("5000"), 4));
        let layers: Vec<(&str, i8)> = retention.synonyms.iter().map(|s| (s.name.as_str(), s.source)).collect();
        assert_eq!(layers, vec![("log.retention.ms", 4), ("log.retention.ms", 5)]);

        assert_eq!(r[3].configs.len(), 1);
        assert_eq!((r[3].configs[0].value.as_deref(), r[3].configs[0].read_only), (Some("1"), true));
        assert_eq!(r[4].error_code, ResponseError::InvalidRequest.code());
        assert_eq!(r[5].error_code, ResponseError::InvalidRequest.code());

        // v1: no types, no documentation.
        let request = DescribeConfigsRequest::default().with_resources(vec![resource(configs::TOPIC, "t", None)]);
        let response = handle(broker, 1, request, &Client::test()).await;
        let c = &response.results[0].configs[0];
        assert_eq!((c.config_type, c.documentation.is_none(), c.synonyms.is_empty()), (0, true, true));
    }
}
