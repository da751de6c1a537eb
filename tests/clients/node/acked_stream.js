// Streams records `rec-0`, `rec-1`, ... to Fjord with a kafkajs idempotent producer (acks=all,
// one request in flight, as kafkajs requires for idempotence) until killed, round-robin over the
// partitions, printing `ack <partition> <offset> <value>` per acknowledged record at once, so a
// test can kill brokers mid-stream and know exactly what was acknowledged. A send that fails
// after every retry is reported on stderr and its producer replaced by a new one (a new producer
// id): kafkajs would otherwise reuse the failed record's sequence number for the next record.
//
// kafkajs retries a request that timed out against the same broker without asking for new
// metadata, so a leader that stopped answering (SIGSTOP) would be retried until it wakes;
// `metadataMaxAge` makes the producer learn the new leader within a couple of seconds.
//
// Run as `node acked_stream.js <bootstrap> <topic> <partitions>`.
'use strict';

const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, topic, partitionsArg] = process.argv.slice(2);
const partitions = Number(partitionsArg || 1);
const retry = { retries: 60, initialRetryTime: 100, maxRetryTime: 1000 };
// KAFKAJS_DEBUG=1 logs the client's view to stderr (stdout carries the acknowledgements).
const debug = Boolean(process.env.KAFKAJS_DEBUG);
const toStderr = () => ({ namespace, level, log }) => {
  process.stderr.write(`kafkajs ${level} ${namespace} ${log.message} ${JSON.stringify(log)}\n`);
};
const kafka = new Kafka({
  clientId: 'fjord-acked-stream',
  brokers: bootstrap.split(','),
  logLevel: debug ? logLevel.DEBUG : logLevel.NOTHING,
  logCreator: toStderr,
  connectionTimeout: 3000,
  requestTimeout: 5000,
  retry,
});

async function newProducer() {
  for (;;) {
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      metadataMaxAge: 2000,
      retry,
    });
    try {
      await producer.connect();
      return producer;
    } catch (e) {
      process.stderr.write(`connect failed: ${e.message}\n`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function main() {
  let producer = await newProducer();
  for (let i = 0; ; i++) {
    const value = `rec-${i}`;
    try {
      const [r] = await producer.send({ topic, acks: -1, timeout: 5000, messages: [{ value, partition: i % partitions }] });
      process.stdout.write(`ack ${r.partition} ${r.baseOffset} ${value}\n`);
    } catch (e) {
      process.stderr.write(`${value} not acknowledged: ${e.message}\n`);
      await producer.disconnect().catch(() => {});
      producer = await newProducer();
    }
  }
}

main().catch((e) => {
  process.stderr.write(`FAIL: ${e.stack}\n`);
  process.exit(1);
});
