//! Property tests: requests encoded as a client would decode back to the same message, and every
//! truncation of a valid frame is refused rather than misread.

use bytes::{Bytes, BytesMut};
use fjord_protocol::request::Decoded;
use fjord_protocol::{ApiRange, VersionTable, decode_request};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader, RequestKind, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes, encode_request_header_into_buffer};
use proptest::prelude::*;

fn table() -> VersionTable {
    VersionTable::new(&[ApiRange { key: ApiKey::Produce, min: 0, max: 11 }])
}

fn frame(version: i16, request: &ProduceRequest) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(version)
        .with_correlation_id(3)
        .with_client_id(Some(StrBytes::from_static_str("prop")));
    let mut buf = BytesMut::new();
    encode_request_header_into_buffer(&mut buf, &header).unwrap();
    request.encode(&mut buf, version).unwrap();
    buf.freeze()
}

fn produce() -> impl Strategy<Value = ProduceRequest> {
    let partition = (0i32..64, proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(index, bytes)| {
        PartitionProduceData::default().with_index(index).with_records(Some(Bytes::from(bytes)))
    });
    let topic = ("[a-z]{1,12}", proptest::collection::vec(partition, 0..4)).prop_map(|(name, partitions)| {
        TopicProduceData::default().with_name(TopicName(StrBytes::from_string(name))).with_partition_data(partitions)
    });
    (prop_oneof![Just(-1i16), Just(0), Just(1)], 0i32..60_000, proptest::collection::vec(topic, 0..4)).prop_map(
        |(acks, timeout_ms, topics)| {
            ProduceRequest::default().with_acks(acks).with_timeout_ms(timeout_ms).with_topic_data(topics)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..ProptestConfig::default() })]

    #[test]
    fn produce_requests_round_trip(request in produce(), version in 3i16..=11) {
        let decoded = decode_request(frame(version, &request), &table()).unwrap();
        let Decoded::Request(r) = decoded else { panic!("not a request: {decoded:?}") };
        prop_assert_eq!(r.header.correlation_id, 3);
        prop_assert_eq!(r.body, RequestKind::Produce(request));
    }

    #[test]
    fn truncated_frames_are_refused(request in produce(), version in 3i16..=11, cut in 0usize..1000) {
        let full = frame(version, &request);
        let cut = cut % full.len();
        prop_assert!(decode_request(full.slice(..cut), &table()).is_err());
    }
}
