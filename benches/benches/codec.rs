//! The codec on the hot path: decoding a Produce request (header, version check, body with one
//! 1 MiB-ish record set) and encoding a Fetch response that carries 1 MiB of batches.

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fjord_protocol::{ApiRange, VersionTable, decode_request, encode_response};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, FetchResponse, ProduceRequest, RequestHeader, ResponseKind, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};

const RECORD_SET: usize = 1 << 20;

fn produce_frame(version: i16) -> Bytes {
    let records = Bytes::from(vec![0x5a_u8; RECORD_SET]);
    let body = ProduceRequest::default().with_acks(-1).with_timeout_ms(30_000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("bench")))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(records))]),
    ]);
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("bench")));
    let mut out = BytesMut::new();
    header.encode(&mut out, ApiKey::Produce.request_header_version(version)).expect("header");
    body.encode(&mut out, version).expect("body");
    out.freeze()
}

fn codec(c: &mut Criterion) {
    let table = VersionTable::new(&[ApiRange { key: ApiKey::Produce, min: 3, max: 11 }]);
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(RECORD_SET as u64));
    for version in [3, 9] {
        let frame = produce_frame(version);
        group.bench_function(format!("decode_produce_v{version}_1MiB"), |b| {
            b.iter(|| decode_request(frame.clone(), &table).expect("decodes"))
        });
    }
    let mut batches = BytesMut::with_capacity(RECORD_SET);
    batches.put_bytes(0x5a, RECORD_SET);
    let batches = batches.freeze();
    let response = ResponseKind::Fetch(FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default().with_topic(TopicName(StrBytes::from_static_str("bench"))).with_partitions(
            vec![PartitionData::default().with_high_watermark(1_000).with_records(Some(batches))],
        ),
    ]));
    group.bench_function("encode_fetch_v12_1MiB", |b| {
        b.iter(|| encode_response(ApiKey::Fetch, 12, 7, &response).expect("encodes"))
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
