// kafkajs transactions against Fjord. A transactional producer commits 20 records together with
// a group's offsets on another topic (sendOffsets), then aborts 10 records with other offsets. A
// second producer with the same transactional id fences the first: the first's open transaction
// is aborted and cannot commit, while the second commits 4 records. A read-committed consumer
// gets exactly the 24 committed records, a read-uncommitted one all 38; the group's committed
// offsets are those of the committed transaction. Prints "ok kafkajs transactions"; exits 1 on the
// first mismatch.
//
// Run as `node transactions.js <bootstrap> <topic>`.
'use strict';

const assert = require('node:assert/strict');
const { Kafka, logLevel } = require('kafkajs');

const PARTITIONS = 2;

async function readUntilEnd(kafka, topic, readUncommitted) {
  const consumer = kafka.consumer({ groupId: `reader-${readUncommitted}-${Date.now()}`, readUncommitted });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = [];
  const ended = new Set();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`end not reached: ${seen.length} records`)), 30_000);
    consumer
      .run({
        eachMessage: async ({ partition, message }) => {
          const value = message.value.toString();
          if (value === 'end') ended.add(partition);
          else if (!ended.has(partition)) seen.push(value);
          if (ended.size === PARTITIONS) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return seen.sort();
}

async function main() {
  const [bootstrap, topic] = process.argv.slice(2);
  const kafka = new Kafka({ clientId: 'fjord-tests', brokers: [bootstrap], logLevel: process.env.KJS_DEBUG ? logLevel.DEBUG : logLevel.NOTHING });
  const source = `${topic}-source`;
  const group = `${topic}-group`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [topic, source].map((t) => ({ topic: t, numPartitions: PARTITIONS })),
  });

  const producer = kafka.producer({ transactionalId: 'js-txn', idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const values = (prefix, n) => Array.from({ length: n }, (_, i) => ({ value: `${prefix}-${i}`, partition: i % PARTITIONS }));
  const offsets = (a, b) => ({
    consumerGroupId: group,
    topics: [{ topic: source, partitions: [{ partition: 0, offset: `${a}` }, { partition: 1, offset: `${b}` }] }],
  });

  const committed = await producer.transaction();
  await committed.send({ topic, messages: values('c', 20) });
  await committed.sendOffsets(offsets(5, 7));
  await committed.commit();

  const aborted = await producer.transaction();
  await aborted.send({ topic, messages: values('a', 10) });
  await aborted.sendOffsets(offsets(10, 10));
  await aborted.abort();

  // A second producer with the same id fences the first, whose open transaction is aborted.
  const zombie = await producer.transaction();
  await zombie.send({ topic, messages: values('z', 4) });
  const successor = kafka.producer({ transactionalId: 'js-txn', idempotent: true, maxInFlightRequests: 1 });
  await successor.connect();
  // kafkajs initialises the transactional id with its first transaction.
  const next = await successor.transaction();
  await next.send({ topic, messages: values('n', 4) });
  await next.commit();
  await assert.rejects(zombie.commit(), 'the fenced producer committed');
  await successor.disconnect();
  await producer.disconnect().catch(() => {});

  const plain = kafka.producer();
  await plain.connect();
  await plain.send({ topic, acks: -1, messages: [0, 1].map((partition) => ({ value: 'end', partition })) });
  await plain.disconnect();

  const expected = [...values('c', 20), ...values('n', 4)].map((m) => m.value).sort();
  assert.deepEqual(await readUntilEnd(kafka, topic, false), expected, 'read committed');
  const everything = await readUntilEnd(kafka, topic, true);
  assert.deepEqual(everything, [...expected, ...values('a', 10).map((m) => m.value), ...values('z', 4).map((m) => m.value)].sort(), 'read uncommitted');

  const [fetched] = await admin.fetchOffsets({ groupId: group, topics: [source] });
  assert.deepEqual(fetched.partitions.map((p) => [p.partition, p.offset]).sort(), [[0, '5'], [1, '7']], 'group offsets');
  await admin.disconnect();
  console.log('ok kafkajs transactions');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
