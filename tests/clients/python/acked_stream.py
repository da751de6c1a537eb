"""Streams records `rec-0`, `rec-1`, ... to Fjord with an idempotent acks=all producer until
killed, round-robin over --partitions partitions, printing one line
`ack <partition> <offset> <value>` per acknowledged record, flushed at once, so that a test
can kill brokers mid-stream and know exactly what was acknowledged. --request-timeout-ms bounds
how long a request to a broker that stopped answering (SIGSTOP) waits before it is retried.
"""

import argparse
import sys

from confluent_kafka import Producer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, default=2)
    ap.add_argument("--request-timeout-ms", type=int, default=30_000)
    args = ap.parse_args()
    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 1,
        "message.timeout.ms": 600_000,
        "request.timeout.ms": args.request_timeout_ms,
        "retry.backoff.ms": 50,
    })

    def on_delivery(err, msg):
        if err is None:
            sys.stdout.write(f"ack {msg.partition()} {msg.offset()} {msg.value().decode()}\n")
            sys.stdout.flush()

    i = 0
    while True:
        try:
            producer.produce(args.topic, value=f"rec-{i}".encode(), partition=i % args.partitions, on_delivery=on_delivery)
            i += 1
        except BufferError:
            pass
        producer.poll(0.001 if i % 50 else 0.01)


if __name__ == "__main__":
    main()
