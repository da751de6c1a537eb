"""librdkafka (confluent-kafka) against a multi-broker Fjord cluster, through one bootstrap broker.

create
    Creates --topic with --partitions through the bootstrap broker and waits until the metadata
    lists it. Exits 3 (not 1) when the broker answers with a retriable error or times out, so a
    caller can retry while the cluster fails over.
spread
    The cluster metadata lists --brokers brokers; --topic has --partitions partitions whose leaders
    cover every broker, each leading the same share (+-1).
delete
    Deletes --topic through the bootstrap broker.
groups
    An idempotent acks=all producer writes --count keyed records over --topic (created with
    --partitions); two consumers of one group split the partitions, receive every record exactly
    once between them and commit; the group's committed offsets then equal the high watermarks.

Prints one "ok ..." line; exits 1 with "FAIL: ..." on the first mismatch.
"""

import argparse
import sys
import time
from collections import Counter

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from checks import fail

RETRY = 3


def create(args):
    # Short timeouts: librdkafka sends CreateTopics to the controller its metadata names, and
    # waits out the timeout when that one was just killed; the caller retries.
    admin = AdminClient({"bootstrap.servers": args.bootstrap, "socket.timeout.ms": 3000})
    future = admin.create_topics([NewTopic(args.topic, num_partitions=args.partitions, replication_factor=1)],
                                 operation_timeout=3, request_timeout=3)[args.topic]
    try:
        future.result(timeout=5)
    except KafkaException as e:
        err = e.args[0]
        if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            # A retry of a create that committed after the client gave up: checked below.
            print(f"{args.topic} exists already", file=sys.stderr)
            return wait_listed(admin, args)
        print(f"create {args.topic} failed: {err}", file=sys.stderr)
        # A dead controller shows as a timeout or a transport error until the metadata names
        # the new one; REQUEST_TIMED_OUT and NOT_CONTROLLER come from the brokers themselves.
        transient = (KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError.REQUEST_TIMED_OUT,
                     KafkaError.NOT_CONTROLLER)
        sys.exit(RETRY if err.retriable() or err.code() in transient else 1)
    except Exception as e:  # the future timed out
        print(f"create {args.topic} failed: {e}", file=sys.stderr)
        sys.exit(RETRY)
    wait_listed(admin, args)


def wait_listed(admin, args):
    deadline = time.time() + 10
    while time.time() < deadline:
        topics = admin.list_topics(timeout=5).topics
        if args.topic in topics and len(topics[args.topic].partitions) == args.partitions:
            print(f"ok created {args.topic} with {args.partitions} partitions")
            return
        time.sleep(0.05)
    fail(f"{args.topic} is not in the metadata with {args.partitions} partitions after its creation")


def spread(args):
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    md = admin.list_topics(timeout=10)
    if len(md.brokers) != args.brokers:
        fail(f"metadata lists brokers {sorted(md.brokers)}, expected {args.brokers}")
    topic = md.topics.get(args.topic)
    if topic is None or topic.error is not None:
        fail(f"{args.topic} missing from the metadata: {topic and topic.error}")
    if len(topic.partitions) != args.partitions:
        fail(f"{args.topic} has {len(topic.partitions)} partitions, expected {args.partitions}")
    leaders = Counter(p.leader for p in topic.partitions.values())
    if set(leaders) != set(md.brokers):
        fail(f"leaders {dict(leaders)} do not cover brokers {sorted(md.brokers)}")
    if max(leaders.values()) - min(leaders.values()) > 1:
        fail(f"leaders are uneven: {dict(leaders)}")
    print(f"ok {args.partitions} partitions led by {dict(sorted(leaders.items()))}")


def groups(args):
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    for future in admin.create_topics([NewTopic(args.topic, num_partitions=args.partitions, replication_factor=1)]).values():
        future.result(timeout=30)
    group = f"{args.topic}-group"
    conf = {"bootstrap.servers": args.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 10000, "heartbeat.interval.ms": 500}
    consumers = [Consumer(dict(conf, **{"client.id": f"c{n}"})) for n in range(2)]
    assigned = [set() for _ in consumers]
    seen = Counter()

    def on_assign(n):
        def record(consumer, partitions):
            assigned[n] = {p.partition for p in partitions}
        return record

    def poll_all():
        for c in consumers:
            msg = c.poll(0.05)
            if msg is None:
                continue
            if msg.error():
                fail(f"consumer error: {msg.error()}")
            seen[msg.value().decode()] += 1

    # The group settles first (both members, every partition owned once), so that no rebalance
    # moves uncommitted partitions while records flow.
    for n, c in enumerate(consumers):
        c.subscribe([args.topic], on_assign=on_assign(n))
    deadline = time.time() + 60
    while not (assigned[0] and assigned[1] and not assigned[0] & assigned[1]
               and len(assigned[0] | assigned[1]) == args.partitions):
        if time.time() > deadline:
            fail(f"the group did not settle: {assigned}")
        poll_all()

    producer = Producer({"bootstrap.servers": args.bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 5})
    errors = []
    for i in range(args.count):
        producer.produce(args.topic, key=f"k{i}", value=f"v{i}",
                         on_delivery=lambda err, msg: err and errors.append(err))
        producer.poll(0)
    if producer.flush(60) != 0 or errors:
        fail(f"produce did not complete: {errors[:3]}")

    deadline = time.time() + 90
    while sum(seen.values()) < args.count and time.time() < deadline:
        poll_all()
    if len(seen) != args.count:
        fail(f"consumed {len(seen)} distinct records of {args.count}")
    twice = [v for v, n in seen.items() if n > 1]
    if twice:
        fail(f"records delivered twice: {twice[:5]}")
    if sorted(assigned[0] | assigned[1]) != list(range(args.partitions)) or assigned[0] & assigned[1]:
        fail(f"the members' assignments do not split the partitions: {assigned}")
    for c in consumers:
        c.commit(asynchronous=False)
        c.close()

    parts = [TopicPartition(args.topic, p) for p in range(args.partitions)]
    probe = Consumer({"bootstrap.servers": args.bootstrap, "group.id": group})
    committed = probe.committed(parts, timeout=10)
    total = 0
    for tp in committed:
        low, high = probe.get_watermark_offsets(TopicPartition(args.topic, tp.partition), timeout=10)
        if tp.offset != high:
            fail(f"partition {tp.partition}: committed {tp.offset}, high watermark {high}")
        total += high
    probe.close()
    if total != args.count:
        fail(f"high watermarks add up to {total}, expected {args.count}")
    print(f"ok group consumed {args.count} records once over {args.partitions} partitions, commits at the end")


def delete(args):
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    admin.delete_topics([args.topic], operation_timeout=10)[args.topic].result(timeout=15)
    print(f"ok deleted {args.topic}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=["create", "spread", "groups", "delete"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--brokers", type=int, default=3)
    ap.add_argument("--count", type=int, default=1200)
    args = ap.parse_args()
    {"create": create, "spread": spread, "groups": groups, "delete": delete}[args.phase](args)


if __name__ == "__main__":
    main()
