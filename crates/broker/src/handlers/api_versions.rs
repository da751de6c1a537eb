//! ApiVersions (key 18): what this broker speaks. Versions above the served range never get here:
//! the connection answers them in v0 with UNSUPPORTED_VERSION (KIP-511).

use fjord_protocol::ApiRange;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use super::Client;
use crate::Broker;

pub const API: ApiRange = ApiRange { key: ApiKey::ApiVersions, min: 0, max: 4 };

pub async fn handle(broker: &Broker, _version: i16, _request: ApiVersionsRequest, _client: &Client) -> ApiVersionsResponse {
    broker.versions.api_versions_response(0)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &ApiVersionsResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
}
