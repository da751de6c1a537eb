//! LeaveGroup (key 13): members leave at once instead of timing out; the rest rebalance. v3+
//! names several members (static ones by instance id) and answers for each.

use fjord_group::{GroupError, LeavingMember, Reply};
use fjord_protocol::ApiRange;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{ApiKey, LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::Client;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::LeaveGroup, min: 0, max: 5 };

/// First version that lists members.
const MEMBERS_FROM: i16 = 3;

pub async fn handle(broker: &Broker, version: i16, request: LeaveGroupRequest, _client: &Client) -> LeaveGroupResponse {
    let leaving: Vec<LeavingMember> = if version >= MEMBERS_FROM {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember { member_id: request.member_id.to_string(), group_instance_id: None }]
    };
    let outcomes = match broker.groups.leave(request.group_id.as_str(), leaving.clone()).await {
        Reply::Leave(Ok(outcomes)) => outcomes,
        Reply::Leave(Err(e @ GroupError::NotCoordinator(_))) => {
            return LeaveGroupResponse::default().with_error_code(BrokerError::from(e).error_code());
        }
        // An unknown group: every member is unknown, as Kafka answers.
        _ => leaving.into_iter().map(|m| (m.clone(), Err(GroupError::UnknownMemberId(m.member_id)))).collect(),
    };
    let code = |r: &Result<(), GroupError>| r.as_ref().err().map_or(0, |e| BrokerError::from(e.clone()).error_code());
    if version < MEMBERS_FROM {
        return LeaveGroupResponse::default().with_error_code(outcomes.first().map_or(0, |(_, r)| code(r)));
    }
    let members = outcomes
        .iter()
        .map(|(m, r)| {
            MemberResponse::default()
                .with_member_id(StrBytes::from_string(m.member_id.clone()))
                .with_group_instance_id(m.group_instance_id.clone().map(StrBytes::from_string))
                .with_error_code(code(r))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &LeaveGroupResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
    r.members.iter().for_each(|m| see(m.error_code));
}
