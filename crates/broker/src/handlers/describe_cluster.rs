//! DescribeCluster (key 60): the cluster id, the active controller and the live (unfenced) brokers,
//! as admin clients show them.
//!
//! Authorized operations are not computed (always "not requested"). Every node answers as a
//! broker endpoint: a v1 request for controller endpoints gets MISMATCHED_ENDPOINT_TYPE, as a
//! Kafka broker answers it.

use fjord_protocol::ApiRange;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{ApiKey, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Client, broker_id, message};
use crate::Broker;

pub const API: ApiRange = ApiRange { key: ApiKey::DescribeCluster, min: 0, max: 1 };

/// Kafka's endpoint type of brokers; 2 is controllers.
const BROKER_ENDPOINT: i8 = 1;

/// "Authorized operations were not requested."
const OPERATIONS_OMITTED: i32 = i32::MIN;

pub async fn handle(broker: &Broker, _version: i16, request: DescribeClusterRequest, _client: &Client) -> DescribeClusterResponse {
    let response = DescribeClusterResponse::default()
        .with_endpoint_type(BROKER_ENDPOINT)
        .with_cluster_authorized_operations(OPERATIONS_OMITTED);
    // Absent before v1, where it decodes to 1 (brokers).
    if request.endpoint_type != BROKER_ENDPOINT {
        // No BrokerError fits: this is a property of the endpoint, not a failure of the request.
        return response.with_error_code(ResponseError::MismatchedEndpointType.code()).with_error_message(message(
            format!(
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type {}",
                match request.endpoint_type {
                    2 => "CONTROLLER".to_string(),
                    other => format!("UNKNOWN ({other})"),
                }
            ),
        ));
    }
    let image = broker.image();
    let brokers = image
        .live_brokers()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(broker_id(b.id))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.clone().map(StrBytes::from_string))
        })
        .collect();
    response
        .with_error_message(None)
        .with_cluster_id(StrBytes::from_string(image.cluster_id.clone()))
        // As in Metadata: this broker, which forwards what a controller would handle.
        .with_controller_id(broker_id(broker.config.node_id))
        .with_brokers(brokers)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &DescribeClusterResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::configs::tests::start;

    #[tokio::test]
    async fn lists_the_registered_brokers() {
        let dir = tempfile::tempdir().unwrap();
        let running = start(dir.path(), &[]).await;
        let response = handle(&running.broker, 1, DescribeClusterRequest::default(), &Client::test()).await;
        assert_eq!(response.error_code, 0);
        assert_eq!(response.brokers.len(), 1);
        assert_eq!(response.brokers[0].port, i32::from(running.addr.port()));
        assert_eq!(response.controller_id, broker_id(1));
        assert!(!response.cluster_id.is_empty());

        let controllers = DescribeClusterRequest::default().with_endpoint_type(2);
        let response = handle(&running.broker, 1, controllers, &Client::test()).await;
        assert_eq!(response.error_code, ResponseError::MismatchedEndpointType.code());
        assert!(response.brokers.is_empty());
    }
}
