"""Exactly-once consume-transform-produce through librdkafka (confluent-kafka) while a test kills
brokers. Two modes:

seed
    Writes --count records `in-<i>` to the 3-partition --source topic with an idempotent producer.
process (default)
    A read_committed group consumer (group --group) and a transactional producer (id --id) turn
    each input record `in-<i>` into `out-<i>` in --sink, in transactions of at most 20 records
    that also commit the consumed offsets. An abortable error aborts the transaction and rewinds
    the consumer to the group's committed offsets; a fatal one replaces the producer (whose
    initialisation fences and finishes the old one's transaction) and rewinds too; retriable
    ones are retried. Prints `committed <n>` after each commit (n: records committed so far) and
    `done` once the group's committed offsets reach the end of every input partition.
"""

import argparse
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

PARTITIONS = 3
BATCH = 20
TIMEOUT = 60


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def retried(operation):
    while True:
        try:
            return operation()
        except KafkaException as e:
            if not e.args[0].retriable():
                raise


def seed(args):
    producer = Producer({"bootstrap.servers": args.bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for i in range(args.count):
        producer.produce(args.source, value=f"in-{i}".encode(), partition=i % PARTITIONS)
        if i % 1000 == 999:
            producer.flush(TIMEOUT)
    if producer.flush(TIMEOUT) != 0:
        say("FAIL: the input was not written")
        sys.exit(1)
    say("seeded")


def new_producer(args):
    producer = Producer({"bootstrap.servers": args.bootstrap, "transactional.id": args.id, "linger.ms": 1,
                         "transaction.timeout.ms": 20_000, "request.timeout.ms": 5000, "retry.backoff.ms": 50})
    retried(lambda: producer.init_transactions(TIMEOUT))
    return producer


def rewind(consumer):
    """Seeks every assigned partition back to the group's committed offset."""
    assignment = consumer.assignment()
    if not assignment:
        return
    for tp in retried(lambda: consumer.committed(assignment, timeout=TIMEOUT)):
        consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))


def caught_up(consumer, args):
    tps = [TopicPartition(args.source, p) for p in range(PARTITIONS)]
    committed = retried(lambda: consumer.committed(tps, timeout=TIMEOUT))
    ends = [consumer.get_watermark_offsets(tp, timeout=TIMEOUT, cached=False)[1] for tp in tps]
    return [tp.offset for tp in committed] == ends


def process(args):
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group,
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                         "heartbeat.interval.ms": 500})
    consumer.subscribe([args.source])
    producer = new_producer(args)
    committed, idle = 0, 0
    while True:
        batch = [m for m in consumer.consume(num_messages=BATCH, timeout=0.5) if m.error() is None]
        if not batch:
            idle += 1
            if idle % 4 == 0 and caught_up(consumer, args):
                say("done")
                return
            continue
        idle = 0
        try:
            producer.begin_transaction()
            for m in batch:
                producer.produce(args.sink, value=m.value().replace(b"in-", b"out-"), partition=m.partition())
            positions = [tp for tp in consumer.position(consumer.assignment()) if tp.offset >= 0]
            retried(lambda: producer.send_offsets_to_transaction(
                positions, consumer.consumer_group_metadata(), TIMEOUT))
            retried(lambda: producer.commit_transaction(TIMEOUT))
            committed += len(batch)
            say(f"committed {committed}")
        except KafkaException as e:
            if e.args[0].txn_requires_abort():
                retried(lambda: producer.abort_transaction(TIMEOUT))
            else:
                producer = new_producer(args)
            rewind(consumer)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--sink", required=True)
    ap.add_argument("--group", default="ctp")
    ap.add_argument("--id", default="ctp")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--mode", choices=["seed", "process"], default="process")
    args = ap.parse_args()
    seed(args) if args.mode == "seed" else process(args)


if __name__ == "__main__":
    main()
