"""Prints every record of a topic, one `<partition> <offset> <value>` line each, reading each
partition from its log start to its high watermark with assign() (no consumer group)."""

import argparse
import sys
import time

from confluent_kafka import Consumer, TopicPartition


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, required=True)
    args = ap.parse_args()
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": "unused-assign-only",
                         "enable.auto.commit": False})
    ends, assignment = {}, []
    for p in range(args.partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(args.topic, p), timeout=30)
        if high > low:
            ends[p] = high
            assignment.append(TopicPartition(args.topic, p, low))
    consumer.assign(assignment)
    done = {p for p, high in ends.items() if high == 0}
    deadline = time.monotonic() + 60
    while len(done) < len(ends):
        if time.monotonic() > deadline:
            print("FAIL: not read to the high watermark within 60 s", flush=True)
            sys.exit(1)
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            print(f"FAIL: {msg.error()}", flush=True)
            sys.exit(1)
        print(f"{msg.partition()} {msg.offset()} {msg.value().decode()}")
        if msg.offset() + 1 >= ends[msg.partition()]:
            done.add(msg.partition())
    consumer.close()


if __name__ == "__main__":
    main()
