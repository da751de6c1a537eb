"""Joins a consumer group on a one-partition topic, reads one record, commits the given offset
for partition 0 synchronously, and leaves the group (which is then Empty, its offset kept)."""

import argparse
import time

from confluent_kafka import Consumer, TopicPartition

from checks import check, fail


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--offset", type=int, required=True)
    args = ap.parse_args()
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.subscribe([args.topic])
    deadline = time.monotonic() + 60
    while True:
        check(time.monotonic() < deadline, "no record within 60 s")
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            fail(msg.error())
        break
    committed = consumer.commit(offsets=[TopicPartition(args.topic, 0, args.offset)], asynchronous=False)
    check(all(tp.error is None for tp in committed), lambda: f"commit failed: {committed}")
    consumer.close()
    print("committed", flush=True)


if __name__ == "__main__":
    main()
