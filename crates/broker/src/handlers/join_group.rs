//! JoinGroup (key 11): a member joins or rejoins a group and waits, without blocking anything
//! else, until the rebalance completes. v4+ hands a new member its id first (MEMBER_ID_REQUIRED);
//! v5+ carries static membership (`group.instance.id`).

use fjord_group::{JoinRequest, Protocol};
use fjord_protocol::ApiRange;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::Client;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::JoinGroup, min: 0, max: 9 };

/// First version with a separate rebalance timeout (v0 uses the session timeout).
const REBALANCE_TIMEOUT_FROM: i16 = 1;
/// First version where a new member must rejoin with the id it is given.
const MEMBER_ID_REQUIRED_FROM: i16 = 4;
/// First version whose protocol name is nullable.
const NULLABLE_PROTOCOL_FROM: i16 = 7;

pub async fn handle(broker: &Broker, version: i16, request: JoinGroupRequest, client: &Client) -> JoinGroupResponse {
    let req = JoinRequest {
        group_id: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .iter()
            .map(|p| Protocol { name: p.name.to_string(), metadata: p.metadata.clone() })
            .collect(),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: if version >= REBALANCE_TIMEOUT_FROM {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        client_id: client.id.clone(),
        client_host: client.host.clone(),
        require_known_member_id: version >= MEMBER_ID_REQUIRED_FROM,
    };
    let no_protocol = if version >= NULLABLE_PROTOCOL_FROM { None } else { Some(StrBytes::default()) };
    match broker.groups.join(req).await {
        Ok(j) => JoinGroupResponse::default()
            .with_generation_id(j.generation_id)
            .with_protocol_type(j.protocol_type.map(StrBytes::from_string))
            .with_protocol_name(j.protocol_name.map(StrBytes::from_string).or(no_protocol))
            .with_leader(StrBytes::from_string(j.leader))
            .with_member_id(StrBytes::from_string(j.member_id))
            .with_members(
                j.members
                    .into_iter()
                    .map(|m| {
                        JoinGroupResponseMember::default()
                            .with_member_id(StrBytes::from_string(m.member_id))
                            .with_group_instance_id(m.group_instance_id.map(StrBytes::from_string))
                            .with_metadata(m.metadata)
                    })
                    .collect(),
            ),
        Err((e, member_id)) => JoinGroupResponse::default()
            .with_error_code(BrokerError::from(e).error_code())
            .with_generation_id(-1)
            .with_protocol_name(no_protocol)
            .with_member_id(StrBytes::from_string(member_id)),
    }
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &JoinGroupResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
}
