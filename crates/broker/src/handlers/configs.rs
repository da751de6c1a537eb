//! What the config APIs share: resource type codes, the checks Kafka makes on a resource before
//! touching it (duplicates, null values, resource type and name), and storing a topic's complete
//! new override set.
//!
//! Only topic configs can be changed: broker configs are static (read at start), and broker
//! loggers have no dynamic levels, so both are refused with INVALID_REQUEST.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use fjord_meta::{Command, MetaError, TopicInfo};

use crate::topic_config;
use crate::{Broker, BrokerError};

/// Kafka's ConfigResource type codes.
pub(super) const TOPIC: i8 = 2;
pub(super) const BROKER: i8 = 4;
pub(super) const BROKER_LOGGER: i8 = 8;

/// For each resource of a request, whether it names the same resource as another one. Kafka
/// refuses every copy, not just the later ones.
pub(super) fn duplicates<'a>(resources: impl Iterator<Item = (i8, &'a str)>) -> Vec<bool> {
    let resources: Vec<(i8, &str)> = resources.collect();
    let mut counts: HashMap<(i8, &str), usize> = HashMap::new();
    for r in &resources {
        *counts.entry(*r).or_default() += 1;
    }
    resources.iter().map(|r| counts[r] > 1).collect()
}

/// The refusal of a resource that appears more than once.
pub(super) fn duplicate_resource() -> BrokerError {
    BrokerError::InvalidRequest("Each resource must appear at most once.".into())
}

/// Refuses config entries without a value (`names` lists them), in Kafka's words.
pub(super) fn refuse_nulls(names: &[&str]) -> Result<(), BrokerError> {
    if names.is_empty() {
        return Ok(());
    }
    Err(BrokerError::InvalidRequest(format!("Null value not supported for : {}", names.join(", "))))
}

/// The topic whose configs a resource would change, or why it cannot be changed.
pub(super) fn alterable_topic(broker: &Broker, resource_type: i8, name: &str) -> Result<Arc<TopicInfo>, BrokerError> {
    match resource_type {
        TOPIC => broker.image().topic(name).cloned().ok_or_else(|| MetaError::UnknownTopic(name.to_string()).into()),
        BROKER => {
            check_node_id(broker, name)?;
            Err(BrokerError::InvalidRequest("dynamic broker configs are not supported".into()))
        }
        BROKER_LOGGER => Err(BrokerError::InvalidRequest("changing broker log levels is not supported".into())),
        other => Err(BrokerError::InvalidRequest(format!("Unknown resource type {other}"))),
    }
}

/// Checks that a broker resource names this broker: its node id, or empty (cluster-wide).
pub(super) fn check_node_id(broker: &Broker, name: &str) -> Result<(), BrokerError> {
    if name.is_empty() {
        return Ok(());
    }
    let node_id = broker.config.node_id;
    match name.parse::<i32>() {
        Ok(id) if id == node_id => Ok(()),
        Ok(_) => Err(BrokerError::InvalidRequest(format!(
            "Unexpected broker id, expected {node_id} or empty string, but received {name}"
        ))),
        Err(_) => Err(BrokerError::InvalidRequest(format!("Node id must be an integer, but it is: {name}"))),
    }
}

/// Checks every override of a topic's new config set, with Kafka's wording of the first problem.
pub(super) fn validate_overrides(configs: &BTreeMap<String, String>) -> Result<(), BrokerError> {
    for (name, value) in configs {
        topic_config::validate(name, value).map_err(BrokerError::InvalidConfig)?;
    }
    Ok(())
}

/// Validates `configs` as topic `name`'s complete override set and, unless `validate_only`,
/// stores it (replacing the previous overrides); the hosted partitions pick it up at once.
pub(super) async fn store_topic_configs(
    broker: &Broker,
    name: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), BrokerError> {
    validate_overrides(&configs)?;
    if validate_only {
        return Ok(());
    }
    broker.propose(Command::SetTopicConfigs { name: name.to_string(), configs }).await?;
    tracing::info!(topic = %name, "topic configs changed");
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use crate::server::RunningBroker;
    use crate::{BrokerConfig, BrokerError};

    /// A broker on an ephemeral port with its data in `dir`; `extra` are more properties.
    pub(in crate::handlers) async fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> RunningBroker {
        let mut props = BTreeMap::new();
        props.insert("listeners".to_string(), "PLAINTEXT://127.0.0.1:0".to_string());
        props.insert("log.dirs".to_string(), dir.display().to_string());
        props.insert("http.listener".to_string(), "127.0.0.1:0".to_string());
        for (k, v) in extra {
            props.insert(k.to_string(), v.to_string());
        }
        RunningBroker::start(BrokerConfig::from_properties(props).unwrap()).await.unwrap()
    }

    #[test]
    fn every_copy_of_a_repeated_resource_is_flagged() {
        let flags = super::duplicates([(2, "a"), (2, "b"), (4, "a"), (2, "a")].into_iter());
        assert_eq!(flags, vec![true, false, false, true]);
    }

    #[test]
    fn nulls_are_refused_in_kafka_words() {
        assert!(super::refuse_nulls(&[]).is_ok());
        let e = super::refuse_nulls(&["a", "b"]).unwrap_err();
        assert!(matches!(e, BrokerError::InvalidRequest(ref m) if m == "Null value not supported for : a, b"));
    }
}
