"""Round-trips records through Fjord with librdkafka (confluent-kafka).

An idempotent, acks=all producer sends COUNT records with keys, values and headers (some keys,
values and header values null) under one compression codec, over three partitions; a consumer
reads them back with assign() (no consumer group) and checks every record arrived exactly once,
byte for byte, at contiguous offsets. Prints one summary line; exits 1 on any mismatch.
"""

import argparse
import functools
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from checks import fail

PARTITIONS = 3


def record(i, codec):
    key = None if i % 10 == 0 else f"key-{i}".encode()
    value = None if i % 17 == 0 else (f"value-{i}-" + "x" * (i % 300)).encode()
    headers = [("seq", str(i).encode()), ("codec", codec.encode())]
    if i % 7 == 0:
        headers.append(("nothing", None))
    return key, value, headers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--codec", required=True, choices=["none", "gzip", "snappy", "lz4", "zstd"])
    ap.add_argument("--count", type=int, default=10_000)
    args = ap.parse_args()

    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    for future in admin.create_topics([NewTopic(args.topic, num_partitions=PARTITIONS, replication_factor=1)]).values():
        future.result(timeout=30)

    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": args.codec,
        "linger.ms": 5,
    })
    delivered, errors = {}, []

    def on_delivery(seq, err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered[seq] = (msg.partition(), msg.offset())

    for i in range(args.count):
        key, value, headers = record(i, args.codec)
        while True:
            try:
                producer.produce(args.topic, key=key, value=value, headers=headers, partition=i % PARTITIONS,
                                 on_delivery=functools.partial(on_delivery, i))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(60) != 0:
        fail("producer did not drain within 60 s")
    if errors:
        fail(f"{len(errors)} delivery errors, first: {errors[0]}")
    if len(delivered) != args.count:
        fail(f"{len(delivered)} of {args.count} delivered")

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "unused-assign-only",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    seen, at_eof = {}, set()
    deadline = time.monotonic() + 60
    while len(at_eof) < PARTITIONS or len(seen) < args.count:
        if time.monotonic() > deadline:
            fail(f"consumed {len(seen)} of {args.count} within 60 s")
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_eof.add(msg.partition())
                continue
            fail(f"consumer error: {msg.error()}")
        at_eof.discard(msg.partition())
        headers = msg.headers() or []
        seq = int(dict(headers)["seq"])
        if seq in seen:
            fail(f"record {seq} consumed twice")
        key, value, want_headers = record(seq, args.codec)
        if msg.key() != key or msg.value() != value or headers != want_headers:
            fail(f"record {seq} differs: {msg.key()!r} {msg.value()!r} {headers!r}")
        if delivered[seq] != (msg.partition(), msg.offset()):
            fail(f"record {seq} at {(msg.partition(), msg.offset())}, acknowledged at {delivered[seq]}")
        seen[seq] = msg.offset()
    for p in range(PARTITIONS):
        low, high = consumer.get_watermark_offsets(TopicPartition(args.topic, p), timeout=10)
        offsets = sorted(o for s, o in seen.items() if s % PARTITIONS == p)
        if (low, high) != (0, len(offsets)) or offsets != list(range(len(offsets))):
            fail(f"partition {p}: watermarks {(low, high)} for {len(offsets)} contiguous records")
    consumer.close()
    print(f"ok {args.codec} {len(seen)} records", flush=True)


if __name__ == "__main__":
    main()
