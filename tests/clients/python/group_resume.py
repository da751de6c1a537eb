"""Committed group offsets through librdkafka (confluent-kafka): where a group resumes, across a
broker restart, after an admin reset, and from a point in time. One phase per run (--phase):

produce-and-consume-half
    Creates a 2-partition topic with 200 records "r-<i>"; a group consumer takes the first 100
    records it is given and commits exactly those (offset of the last one + 1 per partition,
    synchronously), which OffsetFetch and ListConsumerGroupOffsets then report, also after the
    consumer closed. Writes the committed offsets and the records past them to --state.
resume
    (after a broker restart) ListConsumerGroupOffsets still reports the offsets of --state; a new
    consumer in the group (auto.offset.reset=earliest) receives exactly the records past them,
    nothing before, nothing twice; its commit then reaches the high watermarks.
reset
    A group consumes and commits all 200 records. AlterConsumerGroupOffsets is refused with
    UNKNOWN_MEMBER_ID while that member is active; once the group is empty it sets both
    partitions to 0, ListConsumerGroupOffsets reports 0, and a new member with
    auto.offset.reset=latest (so only the committed offsets can send it back) gets all 200 again.
    Then timestamp replay on a second topic of 100 records with explicit create times base + i s:
    offsets_for_times(ts) gives, per partition, the first record at or after ts (and -1 past the
    last record); assigning there replays exactly the records with timestamp >= ts, timestamps
    intact; committing those offsets for a fresh group with AlterConsumerGroupOffsets makes a
    subscribing member replay the same records.

Prints one "ok ..." line; exits 1 with "FAIL: ..." on the first mismatch.
"""

import argparse
import json
import time

from confluent_kafka import (OFFSET_INVALID, TIMESTAMP_CREATE_TIME, Consumer, ConsumerGroupState,
                             ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

from checks import check, fail

PARTITIONS = 2
COUNT = 200


def create_topic(admin, topic):
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[topic].result(timeout=30)


def produce(bootstrap, topic, count, prefix, timestamps=None):
    """Record i has value <prefix>-<i>, partition i % 2 and, if given, create time timestamps[i].
    Returns {i: (partition, offset)}. Uncompressed, so that time lookups are exact per record."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "compression.type": "none", "linger.ms": 5})
    delivered, errors = {}, []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered[int(msg.value().decode().split("-")[1])] = (msg.partition(), msg.offset())

    for i in range(count):
        producer.produce(topic, value=f"{prefix}-{i}".encode(), partition=i % PARTITIONS,
                         timestamp=timestamps[i] if timestamps else 0, on_delivery=on_delivery)
    check(producer.flush(30) == 0, "producer did not drain within 30 s")
    check(not errors and len(delivered) == count, lambda: f"{len(delivered)} of {count} delivered, errors {errors[:3]}")
    return delivered


def group_offsets(admin, group, topic):
    """{partition: committed offset} from ListConsumerGroupOffsets (OFFSET_INVALID when none)."""
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTITIONS)])]
    result = admin.list_consumer_group_offsets(request)[group].result(timeout=30)
    check(all(tp.error is None for tp in result.topic_partitions), lambda: f"offset errors {result.topic_partitions}")
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def wait_empty(admin, group):
    deadline, last = time.monotonic() + 15, None
    while True:
        desc = admin.describe_consumer_groups([group])[group].result(timeout=30)
        last = (desc.state, len(desc.members))
        if desc.state == ConsumerGroupState.EMPTY and not desc.members:
            return
        check(time.monotonic() < deadline, lambda: f"group {group} not Empty after its consumer closed: {last}")
        time.sleep(0.05)


def consumer(bootstrap, group, reset, **extra):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                     "auto.offset.reset": reset, "enable.partition.eof": True, "session.timeout.ms": 10000,
                     "heartbeat.interval.ms": 500, **extra})


def drain(c, what, expected_count, seconds=30):
    """Polls until every partition reached its end and `expected_count` records arrived; returns
    [(value, partition, offset, timestamp)], failing on duplicates or errors."""
    got, seen, at_eof = [], set(), set()
    deadline = time.monotonic() + seconds
    while len(at_eof) < PARTITIONS or len(got) < expected_count:
        check(time.monotonic() < deadline,
              lambda: f"{what}: {len(got)} of {expected_count} records, partitions at end {sorted(at_eof)}")
        msg = c.poll(0.1)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_eof.add(msg.partition())
                continue
            fail(f"{what}: consumer error {msg.error()}")
        at_eof.discard(msg.partition())
        value = msg.value().decode()
        check(value not in seen, lambda: f"{what}: {value} delivered twice")
        seen.add(value)
        got.append((value, msg.partition(), msg.offset(), msg.timestamp()))
    check(len(got) == expected_count, lambda: f"{what}: {len(got)} records, expected {expected_count}")
    return got


def phase_produce_and_consume_half(args):
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    create_topic(admin, args.topic)
    delivered = produce(args.bootstrap, args.topic, COUNT, "r")

    c = consumer(args.bootstrap, args.group, "earliest")
    c.subscribe([args.topic])
    first, deadline = [], time.monotonic() + 30
    while len(first) < COUNT // 2:
        check(time.monotonic() < deadline, lambda: f"only {len(first)} records within 30 s")
        msg = c.poll(0.1)
        if msg is None or (msg.error() and msg.error().code() == KafkaError._PARTITION_EOF):
            continue
        if msg.error():
            fail(f"consumer error {msg.error()}")
        i = int(msg.value().decode().split("-")[1])
        check(delivered[i] == (msg.partition(), msg.offset()),
              lambda: f"record {i} at {(msg.partition(), msg.offset())}, produced at {delivered[i]}")
        check(i not in first, lambda: f"record {i} delivered twice")
        first.append(i)

    committed = {}
    for i in first:
        p, o = delivered[i]
        committed[p] = max(committed.get(p, -1), o + 1)
    result = c.commit(offsets=[TopicPartition(args.topic, p, o) for p, o in sorted(committed.items())],
                      asynchronous=False)
    check(all(tp.error is None for tp in result), lambda: f"commit errors {result}")
    # Everything received before the cut must be exactly the records below the committed offsets.
    below = sorted(i for i, (p, o) in delivered.items() if o < committed.get(p, 0))
    check(sorted(first) == below, lambda: f"first 100 records {sorted(first)} are not a prefix of each partition")

    want = {p: committed.get(p, OFFSET_INVALID) for p in range(PARTITIONS)}
    fetched = c.committed([TopicPartition(args.topic, p) for p in range(PARTITIONS)], timeout=10)
    check({tp.partition: tp.offset for tp in fetched} == want, lambda: f"OffsetFetch {fetched}, committed {want}")
    c.close()
    wait_empty(admin, args.group)
    listed = group_offsets(admin, args.group, args.topic)
    check(listed == want, lambda: f"ListConsumerGroupOffsets {listed} after close, committed {want}")

    rest = sorted(i for i, (p, o) in delivered.items() if o >= committed.get(p, 0))
    with open(args.state, "w") as f:
        json.dump({"committed": {str(p): o for p, o in want.items()},
                   "rest": [[f"r-{i}", delivered[i][0], delivered[i][1]] for i in rest]}, f)
    print(f"committed {json.dumps({p: o for p, o in sorted(committed.items())})}", flush=True)
    print(f"ok committed the first {len(first)} of {COUNT} records", flush=True)


def phase_resume(args):
    with open(args.state) as f:
        state = json.load(f)
    committed = {int(p): o for p, o in state["committed"].items()}
    rest = sorted((v, p, o) for v, p, o in state["rest"])

    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    listed = group_offsets(admin, args.group, args.topic)
    check(listed == committed, lambda: f"after the restart ListConsumerGroupOffsets reports {listed}, committed {committed}")

    c = consumer(args.bootstrap, args.group, "earliest")
    c.subscribe([args.topic])
    got = drain(c, "resume", len(rest))
    check(sorted((v, p, o) for v, p, o, _ in got) == rest,
          lambda: f"resumed with {sorted(v for v, *_ in got)}, expected {[v for v, *_ in rest]}")
    for v, p, o, _ in got:
        check(o >= committed[p] >= 0 or committed[p] == OFFSET_INVALID, lambda: f"{v} at {p}/{o} is before {committed[p]}")
    c.commit(asynchronous=False)
    high = {p: c.get_watermark_offsets(TopicPartition(args.topic, p), timeout=10)[1] for p in range(PARTITIONS)}
    check(sum(high.values()) == COUNT, lambda: f"high watermarks {high} after the restart")
    c.close()
    final = group_offsets(admin, args.group, args.topic)
    check(final == high, lambda: f"committed {final} after resuming, high watermarks {high}")
    print(f"ok resumed {len(got)} records after the committed offsets {committed}", flush=True)


def phase_reset(args):
    b, topic, group = args.bootstrap, args.topic, args.group
    admin = AdminClient({"bootstrap.servers": b})
    create_topic(admin, topic)
    produce(b, topic, COUNT, "r")
    everything = sorted(f"r-{i}" for i in range(COUNT))
    high = {p: COUNT // PARTITIONS for p in range(PARTITIONS)}

    # A member consumes and commits everything.
    c = consumer(b, group, "earliest")
    c.subscribe([topic])
    got = drain(c, "first pass", COUNT)
    check(sorted(v for v, *_ in got) == everything, "first pass did not get every record")
    c.commit(asynchronous=False)
    check(group_offsets(admin, group, topic) == high, lambda: f"committed {group_offsets(admin, group, topic)}")

    # While it is a member, an admin commit (no member id, generation -1) is refused.
    zero = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p, 0) for p in range(PARTITIONS)])]
    try:
        result = admin.alter_consumer_group_offsets(zero)[group].result(timeout=30)
        codes = [tp.error.code() if tp.error else None for tp in result.topic_partitions]
    except KafkaException as e:
        codes = [e.args[0].code()]
    check(codes and all(code == KafkaError.UNKNOWN_MEMBER_ID for code in codes),
          lambda: f"AlterConsumerGroupOffsets on a group with an active member: {codes}, expected UNKNOWN_MEMBER_ID")
    check(group_offsets(admin, group, topic) == high, "a refused AlterConsumerGroupOffsets changed the offsets")
    c.close()
    wait_empty(admin, group)

    # Empty: the reset to 0 takes effect, and a member with auto.offset.reset=latest starts there.
    result = admin.alter_consumer_group_offsets(zero)[group].result(timeout=30)
    check(all(tp.error is None and tp.offset == 0 for tp in result.topic_partitions),
          lambda: f"AlterConsumerGroupOffsets result {result.topic_partitions}")
    listed = group_offsets(admin, group, topic)
    check(listed == {p: 0 for p in range(PARTITIONS)}, lambda: f"after the reset ListConsumerGroupOffsets reports {listed}")
    c = consumer(b, group, "latest")
    c.subscribe([topic])
    got = drain(c, "after the reset", COUNT)
    check(sorted(v for v, *_ in got) == everything, "after the reset the group did not get every record again")
    c.close()

    # Timestamp replay.
    timed = f"{topic}-timed"
    create_topic(admin, timed)
    base = (int(time.time()) - 3600) * 1000
    stamps = [base + i * 1000 for i in range(100)]
    delivered = produce(b, timed, 100, "t", stamps)
    ts = base + 37_000
    wanted = {f"t-{i}" for i in range(100) if stamps[i] >= ts}
    first_at = {p: min(o for i, (q, o) in delivered.items() if q == p and stamps[i] >= ts) for p in range(PARTITIONS)}

    probe = consumer(b, f"{group}-probe", "earliest")
    found = probe.offsets_for_times([TopicPartition(timed, p, ts) for p in range(PARTITIONS)], timeout=10)
    check({tp.partition: tp.offset for tp in found} == first_at,
          lambda: f"offsets_for_times({ts}) {found}, expected {first_at}")
    past = probe.offsets_for_times([TopicPartition(timed, p, stamps[-1] + 1) for p in range(PARTITIONS)], timeout=10)
    check(all(tp.offset == -1 for tp in past), lambda: f"offsets_for_times past the last record: {past}")

    probe.assign([TopicPartition(timed, p, first_at[p]) for p in range(PARTITIONS)])
    replayed = drain(probe, "replay by assign", len(wanted))
    check({v for v, *_ in replayed} == wanted, lambda: f"replayed {sorted(v for v, *_ in replayed)}, expected {sorted(wanted)}")
    for v, p, o, (kind, t) in replayed:
        i = int(v.split("-")[1])
        check((kind, t) == (TIMESTAMP_CREATE_TIME, stamps[i]), lambda: f"{v}: timestamp {(kind, t)}, produced {stamps[i]}")
    probe.close()

    replay_group = f"{group}-replay"
    request = [ConsumerGroupTopicPartitions(replay_group, [TopicPartition(timed, p, first_at[p]) for p in range(PARTITIONS)])]
    result = admin.alter_consumer_group_offsets(request)[replay_group].result(timeout=30)
    check(all(tp.error is None for tp in result.topic_partitions), lambda: f"AlterConsumerGroupOffsets {result.topic_partitions}")
    c = consumer(b, replay_group, "latest")
    c.subscribe([timed])
    replayed = drain(c, "replay by group offsets", len(wanted))
    check({v for v, *_ in replayed} == wanted, lambda: f"group replayed {sorted(v for v, *_ in replayed)}, expected {sorted(wanted)}")
    c.close()
    print(f"ok reset to 0 replayed {COUNT}; timestamp {ts} replayed {len(wanted)} of 100", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--phase", required=True, choices=["produce-and-consume-half", "resume", "reset"])
    ap.add_argument("--state", help="JSON file the first phase writes and `resume` reads")
    args = ap.parse_args()
    if args.phase in ("produce-and-consume-half", "resume") and not args.state:
        fail(f"--phase {args.phase} needs --state")
    {"produce-and-consume-half": phase_produce_and_consume_half,
     "resume": phase_resume,
     "reset": phase_reset}[args.phase](args)


if __name__ == "__main__":
    main()
