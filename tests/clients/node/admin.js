// kafkajs against Fjord: admin create/list/describe/delete topics, topic offsets (latest,
// earliest, by timestamp), and a keyed produce. Exits non-zero on the first mismatch.
'use strict';

const assert = require('node:assert/strict');
const { Kafka, logLevel } = require('kafkajs');

async function main() {
  const [bootstrap, topic] = process.argv.slice(2);
  const kafka = new Kafka({ clientId: 'fjord-tests', brokers: [bootstrap], logLevel: logLevel.ERROR, retry: { retries: 3 } });
  const admin = kafka.admin();
  await admin.connect();

  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] }), true);
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] }), false, 'second create reports it exists');
  assert.ok((await admin.listTopics()).includes(topic));
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  assert.equal(topics[0].partitions.length, 2);
  const cluster = await admin.describeCluster();
  assert.equal(cluster.brokers.length, 1);

  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const before = Date.now();
  const messages = Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % 2 }));
  const acks = await producer.send({ topic, acks: -1, messages });
  assert.equal(acks.length, 2);
  for (const ack of acks) assert.equal(ack.errorCode, 0);
  await producer.disconnect();

  const offsets = await admin.fetchTopicOffsets(topic);
  assert.deepEqual(offsets.map((o) => [o.partition, o.low, o.high]).sort(), [[0, '0', '50'], [1, '0', '50']]);
  const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, before - 60_000);
  assert.deepEqual(byTime.map((o) => [o.partition, o.offset]).sort(), [[0, '0'], [1, '0']]);

  await admin.deleteTopics({ topics: [topic] });
  assert.ok(!(await admin.listTopics()).includes(topic));
  await admin.disconnect();
  console.log('ok kafkajs admin and produce');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
