//! ApiVersions (key 18): what this broker speaks. Versions above the served range never get here:
//! the connection answers them in v0 with UNSUPPORTED_VERSION (KIP-511).

use fjord_protocol::ApiRange;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use crate::Broker;

pub const API: ApiRange = ApiRange { key: ApiKey::ApiVersions, min: 0, max: 4 };

pub fn handle(broker: &Broker, _version: i16, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    broker.versions.api_versions_response(0)
}
