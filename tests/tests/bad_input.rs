//! Bad input over raw connections: each gets Kafka's error code or a closed connection, the
//! broker goes on serving everyone else, and nothing acknowledged is lost.

use anyhow::Result;
use bytes::{Buf, BufMut, BytesMut};
use fjord_log::testing::simple;
use fjord_tests::Broker;
use fjord_tests::raw::{create_topic, fetch, name, now_ms, produce, produce_request};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::Decodable;

const CORRUPT_MESSAGE: i16 = 2;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_RECORD: i16 = 87;
const UNSUPPORTED_VERSION: i16 = 35;

/// The broker still answers a fresh client, and the acknowledged record is still at offset 0.
fn still_serving(broker: &Broker, topic: &str, record: &[u8]) -> Result<()> {
    let mut client = broker.connect()?;
    let mut frame = client.request(ApiKey::ApiVersions, 2, &ApiVersionsRequest::default())?;
    assert_eq!(ApiVersionsResponse::decode(&mut frame, 2)?.error_code, 0);
    let (error, high_watermark, records) = fetch(&mut client, topic, 0)?;
    assert_eq!((error, high_watermark), (0, 1));
    assert_eq!(&records[16..], &record[16..], "the stored batch, as sent from its magic byte on");
    Ok(())
}

/// A request frame with the v1 header (api key, version, correlation id, null client id) and `body`.
fn frame(api_key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    buf.put_i32((10 + body.len()) as i32);
    buf.put_i16(api_key);
    buf.put_i16(version);
    buf.put_i32(7);
    buf.put_i16(-1);
    buf.put_slice(body);
    buf.to_vec()
}

/// Produce v3: no transactional id, acks -1, one topic `t` whose partition array says i32::MAX.
fn huge_produce() -> Vec<u8> {
    let mut body = BytesMut::new();
    body.put_i16(-1);
    body.put_i16(-1);
    body.put_i32(1000);
    body.put_i32(1);
    body.put_i16(1);
    body.put_u8(b't');
    body.put_i32(i32::MAX);
    body.to_vec()
}

#[test]
fn malformed_frames_close_only_their_connection() -> Result<()> {
    let broker = Broker::start()?;
    let record = simple(now_ms(), 1);
    let mut client = broker.connect()?;
    assert_eq!(create_topic(&mut client, "kept", &[])?, 0);
    let (error, offset) = produce(&mut client, "kept", record.clone())?;
    assert_eq!((error, offset), (0, 0));

    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("a frame over socket.request.max.bytes", 0x7fff_fff0_i32.to_be_bytes().to_vec()),
        ("a negative frame length", (-5i32).to_be_bytes().to_vec()),
        ("garbage bytes", [&20i32.to_be_bytes()[..], &[0xff; 20]].concat()),
        ("an unknown api key", frame(999, 0, &[])),
        ("an unsupported Metadata version", frame(3, 99, &[])),
        ("a body that does not decode", frame(3, 1, &[0x00, 0x00, 0x00, 0x05, 0x00])),
        ("a header cut short", [&3i32.to_be_bytes()[..], &[0, 3, 0]].concat()),
        // A decoder that reserved what these announce would abort the whole broker.
        ("a Produce announcing two billion partitions", frame(0, 3, &huge_produce())),
        // Metadata v9: a flexible header (empty tags), then a compact array of 2^32 - 2 topics.
        ("a Metadata announcing four billion topics", frame(3, 9, &[0, 0xff, 0xff, 0xff, 0xff, 0x0f])),
    ];
    for (what, bytes) in bad {
        let mut client = broker.connect()?;
        client.send_raw(&bytes)?;
        assert!(client.is_closed(), "{what}: the connection should close");
        still_serving(&broker, "kept", &record)?;
    }
    Ok(())
}

#[test]
fn an_unsupported_api_versions_version_gets_a_v0_answer() -> Result<()> {
    // KIP-511: a client newer than the broker learns the supported range from a v0 response.
    let broker = Broker::start()?;
    let mut client = broker.connect()?;
    client.send_raw(&frame(ApiKey::ApiVersions as i16, 99, &[0, 0, 0, 0]))?;
    let mut response = client.read_frame()?;
    assert_eq!(response.get_i32(), 7, "correlation id");
    let decoded = ApiVersionsResponse::decode(&mut response, 0)?;
    assert_eq!(decoded.error_code, UNSUPPORTED_VERSION);
    let api_versions =
        decoded.api_keys.iter().find(|k| k.api_key == ApiKey::ApiVersions as i16).expect("ApiVersions listed");
    assert_eq!((api_versions.min_version, api_versions.max_version), (0, 4));
    let mut frame = client.request(ApiKey::ApiVersions, 2, &ApiVersionsRequest::default())?;
    assert_eq!(ApiVersionsResponse::decode(&mut frame, 2)?.error_code, 0, "the connection stays usable");
    Ok(())
}

#[test]
fn bad_records_get_kafka_errors_and_change_nothing() -> Result<()> {
    let broker = Broker::start()?;
    let mut client = broker.connect()?;
    let record = simple(now_ms(), 1);
    assert_eq!(create_topic(&mut client, "kept", &[])?, 0);
    assert_eq!(produce(&mut client, "kept", record.clone())?, (0, 0));

    let mut corrupt = simple(now_ms(), 3);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    assert_eq!(produce(&mut client, "kept", corrupt)?.0, CORRUPT_MESSAGE);
    let mut old_format = simple(now_ms(), 1);
    old_format[16] = 1;
    assert_eq!(produce(&mut client, "kept", old_format)?.0, INVALID_RECORD, "magic 1 is refused");
    let two_batches = [simple(now_ms(), 1), simple(now_ms(), 1)].concat();
    assert_eq!(produce(&mut client, "kept", two_batches)?.0, INVALID_RECORD, "one batch per partition");
    let mut torn = simple(now_ms(), 2);
    torn.truncate(torn.len() - 4);
    assert_eq!(produce(&mut client, "kept", torn)?.0, CORRUPT_MESSAGE);

    assert_eq!(create_topic(&mut client, "small", &[("max.message.bytes", "1000")])?, 0);
    let big = simple(now_ms(), 100);
    assert!(big.len() > 1000);
    assert_eq!(produce(&mut client, "small", big)?.0, MESSAGE_TOO_LARGE);
    assert_eq!(fetch(&mut client, "small", 0)?.1, 0, "nothing stored");
    still_serving(&broker, "kept", &record)?;
    Ok(())
}

#[test]
fn invalid_topic_names_are_refused() -> Result<()> {
    let broker = Broker::start()?;
    let mut client = broker.connect()?;
    let long = "x".repeat(250);
    for bad in ["bad/name", "", ".", "..", "white space", long.as_str()] {
        assert_eq!(create_topic(&mut client, bad, &[])?, INVALID_TOPIC_EXCEPTION, "{bad:?}");
    }
    assert_eq!(create_topic(&mut client, "fine.name_with-chars", &[])?, 0);
    Ok(())
}

#[test]
fn unknown_topics_are_not_created_when_auto_create_is_off() -> Result<()> {
    let broker = Broker::start_with(&["auto.create.topics.enable=false"])?;
    let mut client = broker.connect()?;
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name("nope")))]));
    let mut frame = client.request(ApiKey::Metadata, 1, &request)?;
    let metadata = MetadataResponse::decode(&mut frame, 1)?;
    assert_eq!(metadata.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(produce(&mut client, "nope", simple(now_ms(), 1))?.0, UNKNOWN_TOPIC_OR_PARTITION);
    let mut frame = client.request(ApiKey::Metadata, 1, &request)?;
    assert_eq!(
        MetadataResponse::decode(&mut frame, 1)?.topics[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION,
        "still absent"
    );
    Ok(())
}

#[test]
fn a_failed_acks_0_produce_closes_the_connection() -> Result<()> {
    // With acks=0 there is no response to carry an error: Kafka closes the connection instead.
    let broker = Broker::start_with(&["auto.create.topics.enable=false"])?;
    let mut client = broker.connect()?;
    assert_eq!(create_topic(&mut client, "quiet", &[])?, 0);
    client.send(ApiKey::Produce, 3, &produce_request("quiet", 0, simple(now_ms(), 1)))?;
    assert_eq!(fetch(&mut client, "quiet", 0)?.1, 1, "a good acks=0 produce: no answer, connection open");
    client.send(ApiKey::Produce, 3, &produce_request("missing", 0, simple(now_ms(), 1)))?;
    assert!(client.is_closed(), "a failed acks=0 produce closes the connection");
    Ok(())
}
