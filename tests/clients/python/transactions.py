"""Transactions through librdkafka (confluent-kafka). One scenario per run (--scenario):

commit-abort
    A transactional producer commits 100 records, aborts 50, commits 100 more, over two
    partitions, while an idempotent producer writes 10 plain records in between. A read_committed
    consumer receives exactly the 210 committed and plain records, each once, in the order of
    their offsets per partition; a read_uncommitted one also the 50 aborted ones.
open-transaction
    While a transaction is open, a read_committed consumer is held at its first record: the last
    stable offset (ListOffsets read_committed) stays there and a plain record written after the
    transaction's records is not delivered; read_uncommitted delivers everything. Once the
    transaction commits, read_committed delivers its records and then the plain one.
fencing
    A second producer with the same transactional id fences the first, whose open transaction is
    aborted; the first can no longer write or commit, and only the second's records are
    committed.
consume-transform-produce
    A group consumer reads 100 input records and, in transactions, produces a transformed record
    for each and commits the consumed offsets with send_offsets_to_transaction; one transaction
    is aborted halfway and its input re-read. The output has each
    input's transform exactly once, and the group's committed offsets are the input's ends.
timeout
    A producer opens a transaction (transaction.timeout.ms 2 s) and goes silent; the coordinator
    aborts it: the last stable offset moves past its records, read_committed never delivers
    them, and the producer's commit then fails.

hang
    Opens a transaction (transactional id "hanging", timeout 10 minutes) with 4 records in
    partition 0 of the 1-partition topic "hang", prints "open", and waits until killed.

Prints "ok <scenario>"; exits 1 with "FAIL: ..." on the first mismatch.
"""

import argparse
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from checks import check, fail

PARTITIONS = 2
TIMEOUT = 30


def create_topic(bootstrap, topic, partitions=PARTITIONS):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(timeout=TIMEOUT)


def transactional(bootstrap, transactional_id, **extra):
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id, "linger.ms": 5, **extra})
    producer.init_transactions(TIMEOUT)
    return producer


def plain(bootstrap):
    return Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})


def produce(producer, topic, values, partition=None):
    """Sends `values` (record i to partition i % 2 unless given) and waits until all are acked."""
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    for i, value in enumerate(values):
        producer.produce(topic, value=value.encode(), partition=i % PARTITIONS if partition is None else partition,
                         on_delivery=on_delivery)
    check(producer.flush(TIMEOUT) == 0, "producer did not drain")
    check(not errors, lambda: f"delivery failed: {errors[:3]}")


def end_markers(bootstrap, topic):
    """One plain "end" record per partition: a reader that has seen them has seen everything."""
    producer = plain(bootstrap)
    for p in range(PARTITIONS):
        produce(producer, topic, ["end"], partition=p)


def consumer(bootstrap, isolation, **extra):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{isolation}-{time.monotonic_ns()}",
                     "isolation.level": isolation, "enable.auto.commit": False, **extra})


def read_until_end(bootstrap, topic, isolation):
    """Every record of `topic` before the "end" record of each partition, as (partition, offset,
    value), in delivery order."""
    c = consumer(bootstrap, isolation)
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    seen, ended, deadline = [], set(), time.monotonic() + TIMEOUT
    while len(ended) < PARTITIONS:
        check(time.monotonic() < deadline, lambda: f"{isolation}: end not reached; {len(seen)} records, ended {ended}")
        msg = c.poll(0.5)
        if msg is None:
            continue
        check(msg.error() is None, lambda: f"{isolation} consumer error: {msg.error()}")
        if msg.value() == b"end":
            ended.add(msg.partition())
        elif msg.partition() not in ended:
            seen.append((msg.partition(), msg.offset(), msg.value().decode()))
    c.close()
    return seen


def values_of(records):
    return sorted(v for _, _, v in records)


def in_offset_order(records):
    for p in range(PARTITIONS):
        offsets = [o for part, o, _ in records if part == p]
        check(offsets == sorted(offsets) and len(set(offsets)) == len(offsets),
              lambda: f"partition {p} delivered out of order or twice: {offsets[:20]}")


def last_stable_offset(bootstrap, topic, partition):
    c = consumer(bootstrap, "read_committed")
    _, high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT, cached=False)
    c.close()
    return high


def commit_abort(bootstrap, topic):
    create_topic(bootstrap, topic)
    producer = transactional(bootstrap, "commit-abort")
    committed = [f"c1-{i}" for i in range(100)]
    aborted = [f"a-{i}" for i in range(50)]
    later = [f"c2-{i}" for i in range(100)]
    plains = [f"p-{i}" for i in range(10)]
    producer.begin_transaction()
    produce(producer, topic, committed)
    producer.commit_transaction(TIMEOUT)
    producer.begin_transaction()
    produce(producer, topic, aborted)
    produce(plain(bootstrap), topic, plains)
    producer.abort_transaction(TIMEOUT)
    producer.begin_transaction()
    produce(producer, topic, later)
    producer.commit_transaction(TIMEOUT)
    end_markers(bootstrap, topic)

    read = read_until_end(bootstrap, topic, "read_committed")
    in_offset_order(read)
    check(values_of(read) == sorted(committed + later + plains),
          lambda: f"read_committed got {len(read)} records; aborted among them: {[v for v in values_of(read) if v.startswith('a-')][:5]}")
    everything = read_until_end(bootstrap, topic, "read_uncommitted")
    in_offset_order(everything)
    check(values_of(everything) == sorted(committed + aborted + later + plains),
          lambda: f"read_uncommitted got {len(everything)} records")


def open_transaction(bootstrap, topic):
    create_topic(bootstrap, topic)
    before = plain(bootstrap)
    produce(before, topic, ["b-0", "b-1"])
    lso_before = [last_stable_offset(bootstrap, topic, p) for p in range(PARTITIONS)]
    check(lso_before == [1, 1], lambda: f"last stable offsets before the transaction: {lso_before}")
    producer = transactional(bootstrap, "open")
    producer.begin_transaction()
    produce(producer, topic, [f"t-{i}" for i in range(10)])
    produce(before, topic, ["after-0", "after-1"])
    lso_open = [last_stable_offset(bootstrap, topic, p) for p in range(PARTITIONS)]
    check(lso_open == lso_before, lambda: f"the open transaction did not hold the last stable offset: {lso_open}")

    # read_uncommitted delivers everything already; read_committed stops at the open transaction.
    end_markers(bootstrap, topic)
    check(len(read_until_end(bootstrap, topic, "read_uncommitted")) == 14, "read_uncommitted missed records")
    held = consumer(bootstrap, "read_committed")
    held.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    got = []
    while len(got) < 2:
        msg = held.poll(0.5)
        if msg is not None:
            check(msg.error() is None, lambda: f"consumer error: {msg.error()}")
            got.append(msg.value().decode())
    check(sorted(got) == ["b-0", "b-1"], lambda: f"read_committed first delivered {got}")

    producer.commit_transaction(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while len(got) < 2 + 10 + 2 + 2:
        check(time.monotonic() < deadline, lambda: f"after the commit read_committed delivered only {got}")
        msg = held.poll(0.5)
        if msg is not None:
            check(msg.error() is None, lambda: f"consumer error: {msg.error()}")
            got.append(msg.value().decode())
    held.close()
    check(sorted(got) == sorted(["b-0", "b-1", "after-0", "after-1", "end", "end"] + [f"t-{i}" for i in range(10)]),
          lambda: f"read_committed delivered {got}")
    lso_after = [last_stable_offset(bootstrap, topic, p) for p in range(PARTITIONS)]
    # Per partition: 1 + 5 transactional records + 1 plain + the commit marker + 1 end record.
    check(lso_after == [9, 9], lambda: f"last stable offsets after the commit: {lso_after}")


def fencing(bootstrap, topic):
    create_topic(bootstrap, topic)
    old = transactional(bootstrap, "zombie")
    old.begin_transaction()
    produce(old, topic, [f"old-{i}" for i in range(10)])
    new = transactional(bootstrap, "zombie")
    new.begin_transaction()
    produce(new, topic, [f"new-{i}" for i in range(10)])
    new.commit_transaction(TIMEOUT)

    try:
        old.produce(topic, value=b"late", partition=0)
        old.flush(TIMEOUT)
        old.commit_transaction(TIMEOUT)
        fail("the fenced producer committed")
    except KafkaException as e:
        error = e.args[0]
        check(error.fatal() or error.txn_requires_abort(), lambda: f"unexpected error for the fenced producer: {error}")
    end_markers(bootstrap, topic)
    read = read_until_end(bootstrap, topic, "read_committed")
    check(values_of(read) == sorted(f"new-{i}" for i in range(10)), lambda: f"read_committed got {values_of(read)}")


def consume_transform_produce(bootstrap, topic):
    source, sink, group = f"{topic}-in", f"{topic}-out", f"{topic}-group"
    create_topic(bootstrap, source)
    create_topic(bootstrap, sink)
    produce(plain(bootstrap), source, [f"in-{i}" for i in range(100)])

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "isolation.level": "read_committed",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.subscribe([source])
    producer = transactional(bootstrap, "transformer")
    done, aborted_once, deadline = set(), False, time.monotonic() + 2 * TIMEOUT
    while len(done) < 100:
        check(time.monotonic() < deadline, lambda: f"transformed {len(done)} of 100")
        batch = [m for m in c.consume(num_messages=15, timeout=0.5) if m.error() is None]
        if not batch:
            continue
        producer.begin_transaction()
        values = [m.value().decode() for m in batch]
        produce(producer, sink, [v.replace("in-", "out-") for v in values])
        producer.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), TIMEOUT)
        if done and not aborted_once:
            aborted_once = True
            producer.abort_transaction(TIMEOUT)
            # Rewind to the batch's first records: the aborted batch is processed again.
            for p in {m.partition() for m in batch}:
                first = min(m.offset() for m in batch if m.partition() == p)
                c.seek(TopicPartition(source, p, first))
            continue
        producer.commit_transaction(TIMEOUT)
        done.update(values)
    committed = c.committed([TopicPartition(source, p) for p in range(PARTITIONS)], timeout=TIMEOUT)
    c.close()
    check(aborted_once, "no transaction was aborted")
    check([tp.offset for tp in committed] == [50, 50], lambda: f"committed offsets {committed}")
    end_markers(bootstrap, sink)
    read = read_until_end(bootstrap, sink, "read_committed")
    check(values_of(read) == sorted(f"out-{i}" for i in range(100)),
          lambda: f"output has {len(read)} records, {len(set(values_of(read)))} distinct")


def timeout(bootstrap, topic):
    create_topic(bootstrap, topic)
    producer = transactional(bootstrap, "silent", **{"transaction.timeout.ms": 2000})
    producer.begin_transaction()
    produce(producer, topic, [f"s-{i}" for i in range(10)])
    check([last_stable_offset(bootstrap, topic, p) for p in range(PARTITIONS)] == [0, 0], "no transaction open")
    deadline = time.monotonic() + TIMEOUT
    # Five records and the abort marker per partition.
    while [last_stable_offset(bootstrap, topic, p) for p in range(PARTITIONS)] != [6, 6]:
        check(time.monotonic() < deadline, "the timed-out transaction was not aborted")
        time.sleep(0.2)
    end_markers(bootstrap, topic)
    check(read_until_end(bootstrap, topic, "read_committed") == [], "read_committed delivered aborted records")
    check(len(read_until_end(bootstrap, topic, "read_uncommitted")) == 10, "read_uncommitted missed records")
    try:
        producer.commit_transaction(TIMEOUT)
        fail("the timed-out transaction committed")
    except KafkaException:
        pass


def hang(bootstrap, topic):
    create_topic(bootstrap, topic, partitions=1)
    producer = transactional(bootstrap, "hanging", **{"transaction.timeout.ms": 600_000})
    producer.begin_transaction()
    produce(producer, topic, [f"h-{i}" for i in range(4)], partition=0)
    print("open", flush=True)
    while True:
        producer.poll(1)


SCENARIOS = {
    "hang": hang,
    "commit-abort": commit_abort,
    "open-transaction": open_transaction,
    "fencing": fencing,
    "consume-transform-produce": consume_transform_produce,
    "timeout": timeout,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    args = ap.parse_args()
    SCENARIOS[args.scenario](args.bootstrap, args.scenario)
    print(f"ok {args.scenario}", flush=True)


if __name__ == "__main__":
    main()
