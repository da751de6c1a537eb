"""kafka-python (pure Python, its own protocol code) against Fjord: admin create topic, an
acks=all gzip producer with keys and headers, and a group-less consumer reading back from the
beginning with assign(). Exits 1 on any mismatch."""

import argparse
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

COUNT = 500


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    args = ap.parse_args()

    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
    admin.create_topics([NewTopic(args.topic, num_partitions=2, replication_factor=1)])
    if args.topic not in admin.list_topics():
        print("FAIL: topic not listed", flush=True)
        sys.exit(1)
    admin.close()

    producer = KafkaProducer(bootstrap_servers=args.bootstrap, acks="all", compression_type="gzip")
    futures = [
        producer.send(args.topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=i % 2,
                      headers=[("n", str(i).encode())])
        for i in range(COUNT)
    ]
    producer.flush(timeout=60)
    acked = [f.get(timeout=60) for f in futures]
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap, group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=10_000)
    partitions = [TopicPartition(args.topic, p) for p in range(2)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    got = {}
    for msg in consumer:
        got[int(dict(msg.headers)["n"])] = (msg.partition, msg.offset, msg.key, msg.value)
        if len(got) == COUNT:
            break
    consumer.close()
    for i, meta in enumerate(acked):
        want = (meta.partition, meta.offset, f"k{i}".encode(), f"v{i}".encode())
        if got.get(i) != want:
            print(f"FAIL: record {i}: got {got.get(i)}, want {want}", flush=True)
            sys.exit(1)
    print(f"ok kafka-python {COUNT} records", flush=True)


if __name__ == "__main__":
    main()
