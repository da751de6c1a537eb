//! Topic configs: the names Fjord accepts on topics, their broker-level synonyms and defaults,
//! validation, and the translation into the log's [`LogConfig`].
//!
//! A topic stores only its overrides (in the metadata image); the effective value of a config is
//! the override, else the broker property it has as synonym when set, else the default.

use std::collections::BTreeMap;

use fjord_log::{LogConfig, TimestampType};

/// Where an effective config value comes from (Kafka's DescribeConfigs config_source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    Topic = 1,
    StaticBroker = 4,
    Default = 5,
}

/// Value type of a config (Kafka's DescribeConfigs config_type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    List = 7,
}

/// One topic config.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub synonym: Option<&'static str>,
    pub default: &'static str,
    pub kind: ConfigType,
    pub doc: &'static str,
}

/// Every topic config Fjord accepts, in name order.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef {
        name: "cleanup.policy",
        synonym: Some("log.cleanup.policy"),
        default: "delete",
        kind: ConfigType::List,
        doc: "delete (segments go by retention.ms and retention.bytes), compact (the latest record of each key is kept), or both.",
    },
    TopicConfigDef {
        name: "compression.type",
        synonym: None,
        default: "producer",
        kind: ConfigType::String,
        doc: "Batches are stored as the producer compressed them; only 'producer' is accepted.",
    },
    TopicConfigDef {
        name: "delete.retention.ms",
        synonym: None,
        default: "86400000",
        kind: ConfigType::Long,
        doc: "How long tombstones are kept on compacted topics.",
    },
    TopicConfigDef {
        name: "max.message.bytes",
        synonym: Some("message.max.bytes"),
        default: "1048588",
        kind: ConfigType::Int,
        doc: "Largest record batch accepted.",
    },
    TopicConfigDef {
        name: "message.timestamp.type",
        synonym: Some("log.message.timestamp.type"),
        default: "CreateTime",
        kind: ConfigType::String,
        doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps the broker's clock.",
    },
    TopicConfigDef {
        name: "min.insync.replicas",
        synonym: Some("min.insync.replicas"),
        default: "1",
        kind: ConfigType::Int,
        doc: "Replicas that must have an acks=all write.",
    },
    TopicConfigDef {
        name: "retention.bytes",
        synonym: Some("log.retention.bytes"),
        default: "-1",
        kind: ConfigType::Long,
        doc: "Largest partition size before old segments are deleted (-1: unlimited).",
    },
    TopicConfigDef {
        name: "retention.ms",
        synonym: Some("log.retention.ms"),
        default: "604800000",
        kind: ConfigType::Long,
        doc: "Age after which segments are deleted (-1: forever).",
    },
    TopicConfigDef {
        name: "segment.bytes",
        synonym: Some("log.segment.bytes"),
        default: "1073741824",
        kind: ConfigType::Int,
        doc: "Segment size before a roll.",
    },
    TopicConfigDef {
        name: "segment.ms",
        synonym: Some("log.roll.ms"),
        default: "604800000",
        kind: ConfigType::Long,
        doc: "Segment age before a roll.",
    },
    TopicConfigDef {
        name: "unclean.leader.election.enable",
        synonym: None,
        default: "false",
        kind: ConfigType::Boolean,
        doc: "Whether an out-of-sync replica may become leader.",
    },
];

/// The definition of topic config `name`.
pub fn def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks that `value` is valid for topic config `name`, with Kafka's wording of the problem.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let def = def(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let bad = |why: &str| Err(format!("Invalid value {value} for configuration {name}: {why}"));
    let int_at_least = |min: i64, max: i64| match value.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(()),
        Ok(_) => bad(&format!("must be in {min}..={max}")),
        Err(_) => bad("not a number"),
    };
    match name {
        "cleanup.policy" => {
            let ok = !value.is_empty() && value.split(',').all(|p| matches!(p.trim(), "delete" | "compact"));
            if ok { Ok(()) } else { bad("must be a list of delete and compact") }
        }
        "compression.type" if value != "producer" => bad("Fjord stores batches as produced; use 'producer'"),
        "compression.type" => Ok(()),
        "message.timestamp.type" if matches!(value, "CreateTime" | "LogAppendTime") => Ok(()),
        "message.timestamp.type" => bad("must be CreateTime or LogAppendTime"),
        "unclean.leader.election.enable" if matches!(value, "true" | "false") => Ok(()),
        "unclean.leader.election.enable" => bad("must be true or false"),
        "retention.ms" | "retention.bytes" => int_at_least(-1, i64::MAX),
        "segment.bytes" => int_at_least(14, i32::MAX as i64),
        "segment.ms" => int_at_least(1, i64::MAX),
        "max.message.bytes" => int_at_least(0, i32::MAX as i64),
        "min.insync.replicas" => int_at_least(1, i32::MAX as i64),
        _ => match def.kind {
            ConfigType::Long | ConfigType::Int => int_at_least(0, i64::MAX),
            _ => Ok(()),
        },
    }
}

/// Broker-level defaults for every topic config, resolved once from the broker configuration.
#[derive(Debug, Clone)]
pub struct TopicDefaults {
    values: BTreeMap<&'static str, (String, ConfigSource)>,
}

impl TopicDefaults {
    /// Resolves defaults from the broker's properties — `broker(name)` is a property's effective
    /// value and whether it was set explicitly; an invalid broker-level value is
    /// `(property, value, reason)`.
    pub fn resolve(broker: impl Fn(&str) -> (String, bool)) -> Result<Self, (String, String, String)> {
        let mut values = BTreeMap::new();
        for d in TOPIC_CONFIGS {
            let (value, source) = match d.synonym.map(&broker) {
                Some((value, true)) => (value, ConfigSource::StaticBroker),
                Some((value, false)) => (value, ConfigSource::Default),
                None => (d.default.to_string(), ConfigSource::Default),
            };
            validate(d.name, &value)
                .map_err(|reason| (d.synonym.unwrap_or(d.name).to_string(), value.clone(), reason))?;
            values.insert(d.name, (value, source));
        }
        Ok(Self { values })
    }

    /// Effective value and source of every topic config, given a topic's overrides.
    pub fn effective<'a>(
        &'a self,
        overrides: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = (&'static TopicConfigDef, &'a str, ConfigSource)> + 'a {
        TOPIC_CONFIGS.iter().map(move |d| match overrides.get(d.name) {
            Some(v) => (d, v.as_str(), ConfigSource::Topic),
            None => {
                let (v, s) = &self.values[d.name];
                (d, v.as_str(), *s)
            }
        })
    }

    /// The effective value of one config.
    pub fn value<'a>(&'a self, overrides: &'a BTreeMap<String, String>, name: &str) -> &'a str {
        overrides.get(name).map(String::as_str).unwrap_or_else(|| self.values.get(name).map_or("", |v| v.0.as_str()))
    }

    /// The log configuration of a topic with these overrides. Values were validated on the way in.
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let num = |name: &str| self.value(overrides, name).parse::<i64>().unwrap_or(-1);
        let policy = |p: &str| self.value(overrides, "cleanup.policy").split(',').any(|v| v.trim() == p);
        LogConfig {
            segment_bytes: num("segment.bytes").max(14) as u64,
            segment_ms: num("segment.ms"),
            retention_ms: num("retention.ms"),
            retention_bytes: num("retention.bytes"),
            max_message_bytes: num("max.message.bytes").max(0) as usize,
            timestamp_type: if self.value(overrides, "message.timestamp.type") == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            delete_retention: policy("delete"),
            compact: policy("compact"),
            delete_retention_ms: num("delete.retention.ms"),
            ..LogConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_kafka() {
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("retention.ms", "x").unwrap_err().contains("retention.ms"));
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "shred").is_err());
        assert_eq!(validate("nope", "1").unwrap_err(), "Unknown topic config name: nope");
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
    }
}
