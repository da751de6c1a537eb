"""A 900 KB record round-trips through Fjord; a 2 MB one is refused with MESSAGE_TOO_LARGE.

The producer's own limit is raised so the broker, not the client, is the one that refuses.
"""

import argparse
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from checks import fail


def produce(producer, topic, value):
    result = []
    producer.produce(topic, value=value, partition=0, on_delivery=lambda err, msg: result.append((err, msg)))
    if producer.flush(60) != 0 or not result:
        fail("no delivery report within 60 s")
    return result[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    args = ap.parse_args()

    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "acks": "all",
        "message.max.bytes": 4_000_000,
        "compression.type": "none",
    })
    big = bytes(i * 7 % 251 for i in range(900 * 1024))
    err, msg = produce(producer, args.topic, big)
    if err is not None:
        fail(f"900 KB record refused: {err}")
    offset = msg.offset()

    err, _ = produce(producer, args.topic, b"z" * (2 * 1024 * 1024))
    if err is None or err.code() != KafkaError.MSG_SIZE_TOO_LARGE:
        fail(f"2 MB record: expected MSG_SIZE_TOO_LARGE, got {err}")

    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": "unused-assign-only",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(args.topic, 0, OFFSET_BEGINNING)])
    deadline = time.monotonic() + 60
    while True:
        if time.monotonic() > deadline:
            fail("900 KB record not consumed within 60 s")
        got = consumer.poll(1.0)
        if got is None:
            continue
        if got.error():
            fail(f"consumer error: {got.error()}")
        break
    if got.offset() != offset or got.value() != big:
        fail(f"consumed {len(got.value() or b'')} bytes at offset {got.offset()}")
    low, high = consumer.get_watermark_offsets(TopicPartition(args.topic, 0), timeout=10)
    if (low, high) != (0, 1):
        fail(f"the refused record changed the log: watermarks {(low, high)}")
    consumer.close()
    print("ok 900 KB round-tripped, 2 MB refused with MESSAGE_TOO_LARGE", flush=True)


if __name__ == "__main__":
    main()
