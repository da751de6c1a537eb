"""Transactions through librdkafka (confluent-kafka) while a test kills brokers. Two modes:

stream (default)
    Until killed, runs transactions with transactional id --id: transaction k writes the records
    `t<k>-0` .. `t<k>-5`, two per partition of a 3-partition --topic, then commits. Prints
    `committed k` once the commit succeeded, `aborted k` once an abort did (an abortable error),
    or `unknown k` when a fatal error left the outcome to the coordinator (the producer is then
    replaced by a new one with the same id, whose initialisation finishes the transaction).
    Retriable errors are retried, as the client's documentation says to.
read
    Initialises a producer with --id, which aborts a transaction the killed stream left open,
    writes one plain `end` record per partition and prints every record a read_committed
    consumer receives before it, as `<partition> <offset> <value>`.
"""

import argparse
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

PARTITIONS = 3
PER_PARTITION = 2
TIMEOUT = 60


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def new_producer(args):
    producer = Producer({"bootstrap.servers": args.bootstrap, "transactional.id": args.id, "linger.ms": 1,
                         "transaction.timeout.ms": 20_000, "request.timeout.ms": 5000, "retry.backoff.ms": 50})
    while True:
        try:
            producer.init_transactions(TIMEOUT)
            return producer
        except KafkaException as e:
            if not e.args[0].retriable():
                raise


def retried(operation):
    """Runs `operation` until it succeeds or fails with an error that is not retriable."""
    while True:
        try:
            return operation()
        except KafkaException as e:
            if not e.args[0].retriable():
                raise


def stream(args):
    producer = new_producer(args)
    k = 0
    while True:
        try:
            producer.begin_transaction()
            for j in range(PARTITIONS * PER_PARTITION):
                producer.produce(args.topic, value=f"t{k}-{j}".encode(), partition=j % PARTITIONS)
            retried(lambda: producer.commit_transaction(TIMEOUT))
            say(f"committed {k}")
        except KafkaException as e:
            error = e.args[0]
            if error.txn_requires_abort():
                retried(lambda: producer.abort_transaction(TIMEOUT))
                say(f"aborted {k}")
            else:
                say(f"unknown {k}")
                producer = new_producer(args)
        k += 1


def read(args):
    new_producer(args)
    plain = Producer({"bootstrap.servers": args.bootstrap, "enable.idempotence": True})
    for p in range(PARTITIONS):
        plain.produce(args.topic, value=b"end", partition=p)
    if plain.flush(TIMEOUT) != 0:
        say("FAIL: the end records were not written")
        sys.exit(1)
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": "unused-assign-only",
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    ended, deadline = set(), time.monotonic() + TIMEOUT
    while len(ended) < PARTITIONS:
        if time.monotonic() > deadline:
            say(f"FAIL: the end records were not reached; ended {sorted(ended)}")
            sys.exit(1)
        msg = consumer.poll(0.5)
        if msg is None or msg.error() is not None:
            continue
        if msg.value() == b"end":
            ended.add(msg.partition())
        elif msg.partition() not in ended:
            say(f"{msg.partition()} {msg.offset()} {msg.value().decode()}")
    consumer.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--id", default="txn-stream")
    ap.add_argument("--mode", choices=["stream", "read"], default="stream")
    args = ap.parse_args()
    stream(args) if args.mode == "stream" else read(args)


if __name__ == "__main__":
    main()
