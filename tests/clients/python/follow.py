"""A librdkafka consumer in group --group reading --topic from the earliest offset, committing
automatically, printing `got <partition> <offset> <value>` per record at once until killed — so
a test can see when consumption stops and resumes while brokers fail."""

import argparse
import os
import sys

from confluent_kafka import Consumer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    args = ap.parse_args()
    debug = {"debug": os.environ["LIBRDKAFKA_DEBUG"]} if os.environ.get("LIBRDKAFKA_DEBUG") else {}
    consumer = Consumer({
        **debug,
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 500,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "socket.timeout.ms": 5000,
    })
    consumer.subscribe([args.topic])
    while True:
        msg = consumer.poll(0.2)
        if msg is None or msg.error():
            continue
        sys.stdout.write(f"got {msg.partition()} {msg.offset()} {msg.value().decode()}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
