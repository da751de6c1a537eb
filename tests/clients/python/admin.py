"""The admin APIs through librdkafka's AdminClient (confluent-kafka), each checked for effect:
CreateTopics with configs, DescribeConfigs (topic and broker, values and sources),
IncrementalAlterConfigs (SET takes effect on the next produce, DELETE restores the default),
AlterConfigs, CreatePartitions, DeleteRecords, ListOffsets (earliest, latest, max timestamp,
by time), DescribeCluster and DeleteTopics. Exits 1 on the first mismatch.
"""

import argparse
import warnings

from confluent_kafka import KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewPartitions, NewTopic, OffsetSpec, ResourceType)

from checks import check

WEEK_MS = "604800000"


def describe(admin, resource):
    return admin.describe_configs([resource])[resource].result(timeout=30)


def produce(bootstrap, topic, partition, values, timestamps=None):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    errors = []
    for i, value in enumerate(values):
        ts = timestamps[i] if timestamps else 0
        producer.produce(topic, value=value, partition=partition, timestamp=ts,
                         on_delivery=lambda err, msg: errors.append(err))
        producer.flush(30)
    return errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    args = ap.parse_args()
    b, topic = args.bootstrap, args.topic
    admin = AdminClient({"bootstrap.servers": b})

    created = admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1,
                                            config={"retention.ms": "86400000"})])
    created[topic].result(timeout=30)

    res = ConfigResource(ResourceType.TOPIC, topic)
    configs = describe(admin, res)
    check(configs["retention.ms"].value == "86400000", f"retention.ms {configs['retention.ms'].value}")
    check(configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, "retention.ms source")
    check(configs["segment.bytes"].is_default, "segment.bytes should be a default")
    check(configs["cleanup.policy"].value == "delete", "cleanup.policy default")

    incremental = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("max.message.bytes", "2000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    admin.incremental_alter_configs([incremental])[incremental].result(timeout=30)
    configs = describe(admin, res)
    check(configs["max.message.bytes"].value == "2000", "incremental SET applied")
    check(configs["retention.ms"].value == WEEK_MS and configs["retention.ms"].is_default, "DELETE restores default")
    errors = produce(b, topic, 0, [b"x" * 3000])
    check(errors and errors[0] is not None and errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE,
          f"3000-byte record under max.message.bytes=2000: {errors}")

    # AlterConfigs is deprecated in clients but still served, and its replace-all meaning checked.
    replace = ConfigResource(ResourceType.TOPIC, topic, set_config={"segment.ms": "3600000"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        admin.alter_configs([replace])[replace].result(timeout=30)
    configs = describe(admin, res)
    check(configs["segment.ms"].value == "3600000", "AlterConfigs set segment.ms")
    check(configs["max.message.bytes"].is_default, "AlterConfigs replaces the whole set")

    broker = describe(admin, ConfigResource(ResourceType.BROKER, "1"))
    check("log.retention.ms" in broker or "log.retention.hours" in broker, f"broker configs: {sorted(broker)[:10]}")

    admin.create_partitions([NewPartitions(topic, 4)])[topic].result(timeout=30)
    partitions = admin.list_topics(topic, timeout=30).topics[topic].partitions
    check(len(partitions) == 4, f"{len(partitions)} partitions after CreatePartitions")

    base = 1_700_000_000_000
    check(not any(produce(b, topic, 0, [f"v{i}".encode() for i in range(10)],
                          [base + i * 1000 for i in range(10)])), "produce 10 records")
    tp = TopicPartition(topic, 0)
    spec = {"earliest": OffsetSpec.earliest(), "latest": OffsetSpec.latest(),
            "max": OffsetSpec.max_timestamp(), "time": OffsetSpec.for_timestamp(base + 4500)}
    found = {k: admin.list_offsets({tp: s})[tp].result(timeout=30).offset for k, s in spec.items()}
    check(found == {"earliest": 0, "latest": 10, "max": 9, "time": 5}, f"list offsets {found}")

    deleted = admin.delete_records([TopicPartition(topic, 0, 4)])
    low = list(deleted.values())[0].result(timeout=30).low_watermark
    check(low == 4, f"delete_records low watermark {low}")
    earliest = admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result(timeout=30).offset
    check(earliest == 4, f"earliest after delete_records {earliest}")

    cluster = admin.describe_cluster().result(timeout=30)
    check(len(cluster.nodes) == 1 and cluster.controller is not None and cluster.cluster_id, f"cluster {cluster}")

    admin.delete_topics([topic])[topic].result(timeout=30)
    check(topic not in admin.list_topics(timeout=30).topics, "topic deleted")
    print("ok admin", flush=True)


if __name__ == "__main__":
    main()
