"""kafka-python (its own protocol code) consumer groups against Fjord.

A KafkaConsumer in a group reads the 100 records of a 2-partition topic from the beginning and
commits synchronously: OffsetFetch reports 50 per partition. While it is a member, the admin
client's ListGroups lists the group (protocol type "consumer") and DescribeGroups shows it Stable
with the "range" protocol and that member holding both partitions; once it closes the group is
Empty. A second consumer in the group gets nothing (its positions start at the committed 50),
then exactly the 10 records produced after it joined; its commit moves the group's offsets
(ListGroupOffsets) to 55. Prints "ok kafka-python group"; exits 1 with "FAIL: ..." otherwise.
"""

import argparse
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from checks import check, fail

PARTITIONS = 2
COUNT = 100
MORE = 10


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    args = ap.parse_args()
    b, topic, group = args.bootstrap, args.topic, args.group
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]

    admin = KafkaAdminClient(bootstrap_servers=b)
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    producer = KafkaProducer(bootstrap_servers=b, acks="all")

    def send(start, n):
        futures = {i: producer.send(topic, value=f"v{i}".encode(), partition=i % PARTITIONS) for i in range(start, start + n)}
        producer.flush(timeout=30)
        return {i: (meta.partition, meta.offset) for i, meta in ((i, f.get(timeout=30)) for i, f in futures.items())}

    def group_consumer(client_id):
        return KafkaConsumer(topic, bootstrap_servers=b, group_id=group, client_id=client_id,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             session_timeout_ms=10000, heartbeat_interval_ms=500)

    def consume(consumer, acked, what):
        """Polls until exactly the records in `acked` ({i: (partition, offset)}) arrived."""
        got, deadline = {}, time.monotonic() + 30
        while len(got) < len(acked):
            check(time.monotonic() < deadline, lambda: f"{what}: {len(got)} of {len(acked)} records within 30 s")
            for records in consumer.poll(timeout_ms=100).values():
                for r in records:
                    i = int(r.value.decode()[1:])
                    check(acked.get(i) == (r.partition, r.offset),
                          lambda: f"{what}: got v{i} at {(r.partition, r.offset)}, expected {acked.get(i)}")
                    check(i not in got, lambda: f"{what}: v{i} delivered twice")
                    got[i] = r
        return got

    def describe():
        desc = admin.describe_groups([group])[group]
        check(desc["error"] is None, lambda: f"DescribeGroups error: {desc}")
        return desc

    def assigned(member):
        return sorted((tp["topic"], p) for tp in member["member_assignment"]["assigned_partitions"] for p in tp["partitions"])

    # The first member reads everything and commits.
    acked = send(0, COUNT)
    first = group_consumer("kp-first")
    consume(first, acked, "first member")
    first.commit()
    half = COUNT // PARTITIONS
    for tp in partitions:
        check(first.committed(tp) == half, lambda: f"{tp} committed {first.committed(tp)}, expected {half}")

    listed = [g for g in admin.list_groups() if g["group_id"] == group]
    check(len(listed) == 1 and listed[0]["protocol_type"] == "consumer", lambda: f"ListGroups entry {listed}")
    desc = describe()
    check(desc["group_state"] == "Stable" and desc["protocol_type"] == "consumer" and desc["protocol_data"] == "range",
          lambda: f"live group described as {desc}")
    check(len(desc["members"]) == 1 and desc["members"][0]["client_id"] == "kp-first", lambda: f"members {desc['members']}")
    check(assigned(desc["members"][0]) == [(topic, p) for p in range(PARTITIONS)],
          lambda: f"member assignment {desc['members'][0]['member_assignment']}")
    first.close()

    deadline = time.monotonic() + 15
    while (desc := describe())["group_state"] != "Empty" or desc["members"]:
        check(time.monotonic() < deadline, lambda: f"group not Empty after its only member closed: {desc}")
        time.sleep(0.05)

    # The second member starts at the committed offsets: nothing, then only what is new.
    second = group_consumer("kp-second")
    deadline = time.monotonic() + 30
    while second.assignment() != set(partitions):
        check(time.monotonic() < deadline, lambda: f"second member not assigned both partitions: {second.assignment()}")
        polled = second.poll(timeout_ms=100)
        check(not any(polled.values()), lambda: f"second member got already committed records: {polled}")
    for tp in partitions:
        check(second.position(tp) == half, lambda: f"second member starts {tp} at {second.position(tp)}, committed {half}")
    polled = second.poll(timeout_ms=200)
    check(not any(polled.values()), lambda: f"second member got already committed records: {polled}")
    acked_more = send(COUNT, MORE)
    consume(second, acked_more, "second member")
    second.commit()
    offsets = admin.list_group_offsets(group)[group]
    got = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
    want = {p: half + MORE // PARTITIONS for p in range(PARTITIONS)}
    check(got == want, lambda: f"ListGroupOffsets {got}, expected {want}")
    second.close()
    producer.close()
    admin.close()
    print("ok kafka-python group", flush=True)


if __name__ == "__main__":
    main()
