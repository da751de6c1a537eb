//! The error codes a response carries, found where each API puts them (top level, per topic, per
//! partition, per group), the way Kafka counts `ErrorsPerSec`: one per failed entry.

use kafka_protocol::messages::ResponseKind;

/// Calls `f` with every non-zero error code in `response`.
pub fn for_each_error(response: &ResponseKind, mut f: impl FnMut(i16)) {
    let mut see = |code: i16| {
        if code != 0 {
            f(code);
        }
    };
    match response {
        ResponseKind::Produce(r) => {
            r.responses.iter().flat_map(|t| &t.partition_responses).for_each(|p| see(p.error_code));
        }
        ResponseKind::Fetch(r) => {
            see(r.error_code);
            r.responses.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
        }
        ResponseKind::ListOffsets(r) => r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code)),
        ResponseKind::Metadata(r) => {
            for t in &r.topics {
                see(t.error_code);
                t.partitions.iter().for_each(|p| see(p.error_code));
            }
        }
        ResponseKind::ApiVersions(r) => see(r.error_code),
        ResponseKind::CreateTopics(r) => r.topics.iter().for_each(|t| see(t.error_code)),
        ResponseKind::DeleteTopics(r) => r.responses.iter().for_each(|t| see(t.error_code)),
        ResponseKind::DeleteRecords(r) => r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code)),
        ResponseKind::InitProducerId(r) => see(r.error_code),
        ResponseKind::DescribeConfigs(r) => r.results.iter().for_each(|t| see(t.error_code)),
        ResponseKind::AlterConfigs(r) => r.responses.iter().for_each(|t| see(t.error_code)),
        ResponseKind::CreatePartitions(r) => r.results.iter().for_each(|t| see(t.error_code)),
        ResponseKind::IncrementalAlterConfigs(r) => r.responses.iter().for_each(|t| see(t.error_code)),
        ResponseKind::DescribeCluster(r) => see(r.error_code),
        ResponseKind::FindCoordinator(r) => {
            // v0–3 answer at the top level, v4+ per key; the other place holds zero.
            see(r.error_code);
            r.coordinators.iter().for_each(|c| see(c.error_code));
        }
        ResponseKind::JoinGroup(r) => see(r.error_code),
        ResponseKind::SyncGroup(r) => see(r.error_code),
        ResponseKind::Heartbeat(r) => see(r.error_code),
        ResponseKind::LeaveGroup(r) => {
            see(r.error_code);
            r.members.iter().for_each(|m| see(m.error_code));
        }
        ResponseKind::OffsetCommit(r) => r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code)),
        ResponseKind::OffsetFetch(r) => {
            see(r.error_code);
            r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
            for g in &r.groups {
                see(g.error_code);
                g.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
            }
        }
        ResponseKind::ListGroups(r) => see(r.error_code),
        ResponseKind::DescribeGroups(r) => r.groups.iter().for_each(|g| see(g.error_code)),
        ResponseKind::DeleteGroups(r) => r.results.iter().for_each(|g| see(g.error_code)),
        ResponseKind::OffsetDelete(r) => {
            see(r.error_code);
            r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
        }
        // Not served (the version table admits only the APIs above).
        _ => {}
    }
}

/// Kafka's name of an error code (`UNKNOWN_TOPIC_OR_PARTITION`), as its metrics label errors.
pub fn error_name(code: i16) -> String {
    use kafka_protocol::error::ParseResponseErrorCode;
    let Some(error) = code.err() else { return "NONE".into() };
    let debug = format!("{error:?}");
    if debug.starts_with("Unknown(") {
        return format!("UNKNOWN_{code}");
    }
    let mut out = String::with_capacity(debug.len() + 8);
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ProduceResponse;
    use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};

    #[test]
    fn names_are_kafkas() {
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(21), "INVALID_REQUIRED_ACKS");
        assert_eq!(error_name(0), "NONE");
    }

    #[test]
    fn every_failed_partition_counts() {
        let partitions = [0, 3, 3, 0, 10].map(|code| PartitionProduceResponse::default().with_error_code(code));
        let response = ResponseKind::Produce(
            ProduceResponse::default()
                .with_responses(vec![TopicProduceResponse::default().with_partition_responses(partitions.to_vec())]),
        );
        let mut seen = Vec::new();
        for_each_error(&response, |c| seen.push(c));
        assert_eq!(seen, [3, 3, 10]);
    }
}
