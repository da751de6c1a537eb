"""Streams records to Fjord with an idempotent acks=all producer until killed, printing one line
`ack <partition> <offset> <value>` per acknowledged record, flushed at once, so that a test
can kill the broker mid-stream and know exactly what was acknowledged.
"""

import argparse
import sys

from confluent_kafka import Producer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    args = ap.parse_args()
    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 1,
        "message.timeout.ms": 600_000,
    })

    def on_delivery(err, msg):
        if err is None:
            sys.stdout.write(f"ack {msg.partition()} {msg.offset()} {msg.value().decode()}\n")
            sys.stdout.flush()

    i = 0
    while True:
        try:
            producer.produce(args.topic, value=f"rec-{i}".encode(), partition=i % 2, on_delivery=on_delivery)
            i += 1
        except BufferError:
            pass
        producer.poll(0.001 if i % 50 else 0.01)


if __name__ == "__main__":
    main()
