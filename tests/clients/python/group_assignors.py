"""Consumer groups through librdkafka (confluent-kafka) with one partition assignment strategy:
`range`, `roundrobin` or `cooperative-sticky` (the last one incremental, over two rebalances).

Two consumers subscribe in one group to a 6-partition topic holding 300 records, polled
alternately from this one thread, each committing every record synchronously after processing
it. The rebalance callbacks track ownership: a partition is assigned to a consumer only after
the previous owner gave it up, and a record is only ever delivered by its partition's current
owner. Once the group is stable with a 3/3 split (the shape each strategy produces) and
DescribeConsumerGroups agrees (state, strategy, members' assignments), 300 more records are
produced. All 600 must be consumed, each exactly once — except that a commit Kafka refuses with
the retriable REBALANCE_IN_PROGRESS (a commit that lands while a rebalance completes) is retried
after the next poll, and a record whose partition moved before its commit went through may be
delivered once more by the new owner, as at-least-once delivery allows. The committed offsets
(ListConsumerGroupOffsets) must equal the high watermarks; after both consumers close the group is Empty. Prints
"ok <strategy>"; exits 1 with "FAIL: ..." on the first mismatch.
"""

import argparse
import time

from confluent_kafka import (ConsumerGroupState, ConsumerGroupTopicPartitions, Consumer, KafkaError, KafkaException,
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

from checks import check, fail

PARTITIONS = 6
COUNT = 600
NAMES = ("c1", "c2")


def produce(bootstrap, topic, numbers, delivered):
    """Record i: key k<i>, value str(i), in partition i % 6; delivered[i] = (partition, offset)."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5})
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered[int(msg.value())] = (msg.partition(), msg.offset())

    for i in numbers:
        producer.produce(topic, key=f"k{i}".encode(), value=str(i).encode(), partition=i % PARTITIONS,
                         on_delivery=on_delivery)
    check(producer.flush(30) == 0, "producer did not drain within 30 s")
    check(not errors, lambda: f"delivery errors: {errors[:3]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--strategy", required=True, choices=["range", "roundrobin", "cooperative-sticky"])
    args = ap.parse_args()
    b, topic, strategy = args.bootstrap, args.topic, args.strategy
    group = f"assignors-{strategy}"

    admin = AdminClient({"bootstrap.servers": b})
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[topic].result(timeout=30)
    delivered = {}
    produce(b, topic, range(COUNT // 2), delivered)

    owners = {}     # partition -> name of the consumer that holds it now
    problems = []   # found inside callbacks, reported by the main loop
    seen = {}       # record -> name of the consumer that delivered it
    uncommitted = {}  # partition -> records its current owner delivered that no commit covers yet
    redeliverable = set()  # records whose partition moved before their commit went through
    last_owner = {}  # partition -> the consumer that delivered from it last
    retry = {}      # consumer -> a message whose commit Kafka refused as retriable
    closing = []    # non-empty once the consumers are being closed: ownership no longer tracked

    def callbacks(name):
        def on_assign(consumer, partitions):
            if closing:
                return
            for tp in partitions:
                if owners.get(tp.partition) not in (None, name):
                    problems.append(f"partition {tp.partition} assigned to {name} while {owners[tp.partition]} holds it")
                owners[tp.partition] = name

        def on_revoke(consumer, partitions):
            if closing:
                return
            for tp in partitions:
                if owners.get(tp.partition) != name:
                    problems.append(f"{name} gave up partition {tp.partition}, held by {owners.get(tp.partition)}")
                else:
                    del owners[tp.partition]

        def on_lost(consumer, partitions):
            if closing:
                return
            problems.append(f"{name} lost partitions {[tp.partition for tp in partitions]} (session or generation)")
            for tp in partitions:
                if owners.get(tp.partition) == name:
                    del owners[tp.partition]

        return on_assign, on_revoke, on_lost

    consumers = []
    for name in NAMES:
        c = Consumer({
            "bootstrap.servers": b,
            "group.id": group,
            "client.id": name,
            "partition.assignment.strategy": strategy,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 500,
        })
        on_assign, on_revoke, on_lost = callbacks(name)
        c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
        consumers.append((name, c))

    def commit(name, c, msg):
        """Commits synchronously; True once done, False when Kafka asks to retry after a poll."""
        try:
            committed = c.commit(message=msg, asynchronous=False)
        except KafkaException as e:
            if e.args[0].code() == KafkaError.REBALANCE_IN_PROGRESS:
                return False
            fail(f"{name}: synchronous commit at {(msg.partition(), msg.offset())} failed: {e}")
        for tp in committed or []:
            check(tp.error is None, lambda: f"{name}: commit of {tp.partition} failed: {tp.error}")
        uncommitted[msg.partition()] = set()
        return True

    def poll_round():
        """Polls each consumer once; processes and synchronously commits what it delivers."""
        for name, c in consumers:
            if name in retry:
                m = retry.pop(name)
                if owners.get(m.partition()) == name and not commit(name, c, m):
                    retry[name] = m
            msg = c.poll(0.05)
            check(not problems, lambda: problems[0])
            if msg is None:
                continue
            if msg.error():
                fail(f"{name}: consumer error {msg.error()}")
            i = int(msg.value())
            where = (msg.partition(), msg.offset())
            check(delivered.get(i) == where, lambda: f"{name} got record {i} at {where}, produced at {delivered.get(i)}")
            check(owners.get(msg.partition()) == name,
                  lambda: f"{name} delivered record {i} of partition {msg.partition()}, owned by {owners.get(msg.partition())}")
            if last_owner.get(msg.partition()) not in (None, name):
                # The partition moved: what its old owner delivered uncommitted may come again.
                redeliverable.update(uncommitted.get(msg.partition(), set()))
                uncommitted[msg.partition()] = set()
            last_owner[msg.partition()] = name
            check(i not in seen or i in redeliverable,
                  lambda: f"record {i} delivered twice: by {seen[i]} and by {name}, though its commit went through")
            redeliverable.discard(i)
            seen[i] = name
            uncommitted.setdefault(msg.partition(), set()).add(i)
            if not commit(name, c, msg):
                retry[name] = msg

    def run_until(what, seconds, condition):
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                fail(f"timed out after {seconds} s waiting for {what() if callable(what) else what}")
            poll_round()

    def split():
        mine = {name: sorted(p for p, n in owners.items() if n == name) for name in NAMES}
        if len(owners) != PARTITIONS or any(not ps for ps in mine.values()):
            return None
        for name, c in consumers:
            if sorted(tp.partition for tp in c.assignment()) != mine[name]:
                return None
        return mine

    # 1. Both consumers hold partitions, together all of them.
    run_until(lambda: f"both consumers to hold partitions (owners {owners})", 30, split)
    mine = split()
    sets = sorted(tuple(ps) for ps in mine.values())
    if strategy == "range":
        check(sets == [(0, 1, 2), (3, 4, 5)], lambda: f"range assignment {mine}")
    elif strategy == "roundrobin":
        check(sets == [(0, 2, 4), (1, 3, 5)], lambda: f"roundrobin assignment {mine}")
    else:
        check([len(s) for s in sets] == [3, 3], lambda: f"cooperative-sticky assignment {mine}")

    # The coordinator's view agrees: Stable, the chosen strategy, the same assignments.
    last = {}

    def described():
        desc = admin.describe_consumer_groups([group])[group].result(timeout=30)
        last["desc"] = (desc.state, desc.partition_assignor,
                        {m.client_id: sorted(tp.partition for tp in m.assignment.topic_partitions) for m in desc.members})
        return desc.state == ConsumerGroupState.STABLE and last["desc"][2] == mine

    run_until(lambda: f"DescribeConsumerGroups to show Stable with {mine}; last {last.get('desc')}", 30, described)
    check(last["desc"][1] == strategy, lambda: f"group protocol {last['desc'][1]!r}, expected {strategy!r}")

    # 2. The second half: every record is delivered once, by the owner of the stable split.
    before = len(seen)
    produce(b, topic, range(COUNT // 2, COUNT), delivered)
    run_until(lambda: f"all {COUNT} records (have {len(seen)})", 30, lambda: len(seen) == COUNT)
    check(split() == mine, lambda: f"assignment moved from {mine} to {split()} without a membership change")
    late = {seen[i] for i in range(COUNT // 2, COUNT)}
    check(late == set(NAMES), lambda: f"second half consumed only by {late} (first half: {before} records)")

    # Committed offsets equal the high watermarks.
    probe = consumers[0][1]
    high = {}
    for p in range(PARTITIONS):
        low, hi = probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        check((low, hi) == (0, COUNT // PARTITIONS), lambda: f"partition {p} watermarks {(low, hi)}")
        high[p] = hi
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTITIONS)])]
    result = admin.list_consumer_group_offsets(request)[group].result(timeout=30)
    committed = {tp.partition: tp.offset for tp in result.topic_partitions}
    check(all(tp.error is None for tp in result.topic_partitions), lambda: f"offset errors {result.topic_partitions}")
    check(committed == high, lambda: f"committed offsets {committed}, high watermarks {high}")

    check(not problems, lambda: problems[0])
    closing.append(True)
    for _, c in consumers:
        c.close()

    def empty():
        desc = admin.describe_consumer_groups([group])[group].result(timeout=30)
        last["state"] = (desc.state, len(desc.members))
        return desc.state == ConsumerGroupState.EMPTY and not desc.members

    deadline = time.monotonic() + 15
    while not empty():
        check(time.monotonic() < deadline, lambda: f"group not Empty after both consumers closed: {last['state']}")
        time.sleep(0.05)
    print(f"ok {strategy}", flush=True)


if __name__ == "__main__":
    main()
