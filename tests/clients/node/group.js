// kafkajs consumer groups against Fjord: three kafkajs consumers share a 4-partition topic in one
// group (eachMessage, autoCommit). Checked: at every stable point the broker's DescribeGroups
// assignments equal what each member received in SyncGroup (GROUP_JOIN) and split the partitions,
// one owner each; a member that leaves cleanly mid-batch (disconnect → LeaveGroup) is gone at
// once, its partitions move and its last records are not redelivered; a member that hangs and is
// SIGKILLed (no LeaveGroup) stays in the group until its 6 s session times out, then the group
// rebalances and exactly its uncommitted tail is delivered again, from its last committed offset.
// Every record of both waves (800) is consumed, in order per key and per member, exactly once
// apart from that tail; committed offsets end at the high watermarks. Then the admin side:
// DescribeGroups Stable → Empty, DeleteGroups refused while a member is active, ListGroups,
// resetOffsets (earliest, stored as -2), setOffsets (a consumer then resumes exactly there),
// DeleteGroups, after which the group is gone. Prints "ok kafkajs group"; exits 1 with
// "FAIL: ..." on the first mismatch.
//
// Run as `node group.js <bootstrap> <topic> <group>`; it forks itself with `--member` for the
// member that crashes.
'use strict';

const { fork } = require('node:child_process');
const { Kafka, logLevel, AssignerProtocol } = require('kafkajs');

const PARTITIONS = 4;
const KEYS = 40;
const CHUNK = 100; // records per produce call: 25 per partition
const TOTAL = 800; // two waves of 400
const TAIL = 5; // records the leaving and the crashing member take from their last chunk
const SESSION_TIMEOUT = 6000;
const HEARTBEAT_INTERVAL = 500;
const REBALANCE_TIMEOUT = 10000;

function fail(message) {
  console.log(`FAIL: ${message}`);
  process.exit(1);
}

function check(condition, message) {
  if (!condition) fail(typeof message === 'function' ? message() : message);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `probe` every 20 ms until it returns a truthy value; fails after `ms`. `what` may be a
// function, to describe the last state seen.
async function until(what, ms, probe) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) fail(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(20);
  }
}

// Record i: key i % 40 (sequence number i / 40 within its key), always in partition
// key % 4 = i % 4, so produced in order of i it lands at offset floor(i / 4).
function record(i) {
  const key = i % KEYS;
  return {
    key: `key-${key}`,
    value: JSON.stringify({ i, key, seq: Math.floor(i / KEYS) }),
    partition: key % PARTITIONS,
  };
}

function kafkaFor(bootstrap, clientId) {
  return new Kafka({ clientId, brokers: [bootstrap], logLevel: logLevel.ERROR });
}

function consumerConfig(groupId) {
  return {
    groupId,
    sessionTimeout: SESSION_TIMEOUT,
    heartbeatInterval: HEARTBEAT_INTERVAL,
    rebalanceTimeout: REBALANCE_TIMEOUT,
    // Idle members return from their fetch long poll quickly, so they heartbeat (and notice a
    // rebalance) every HEARTBEAT_INTERVAL rather than every 5 s.
    maxWaitTimeInMs: 100,
  };
}

const sorted = (xs) => [...xs].sort((a, b) => a - b);

// ---------------------------------------------------------------------------------------------
// The member that crashes, in a child process. It reports its GROUP_JOIN assignments, commits
// and every record over IPC. Once armed, it takes `after` records of the range [from, to) and
// then hangs inside eachMessage (no more fetches, heartbeats or commits), reporting "frozen";
// the parent then SIGKILLs it. IPC messages arrive in order, so by "frozen" the parent has
// every record and every commit the child made.
// ---------------------------------------------------------------------------------------------
async function member(bootstrap, topic, groupId) {
  process.on('disconnect', () => process.exit(0)); // the parent is gone
  const consumer = kafkaFor(bootstrap, 'fjord-group-crashing').consumer(consumerConfig(groupId));
  let arm = null;
  let taken = 0;
  let frozen = false;
  const hang = () => new Promise(() => {});
  process.on('message', (m) => {
    if (m.type === 'arm') {
      arm = m;
      taken = 0;
      process.send({ type: 'armed' });
    }
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    process.send({
      type: 'join',
      memberId: payload.memberId,
      partitions: payload.memberAssignment[topic] || [],
    });
  });
  consumer.on(consumer.events.COMMIT_OFFSETS, ({ payload }) => {
    const partitions = payload.topics
      .filter((t) => t.topic === topic)
      .flatMap((t) => t.partitions.map((p) => ({ partition: p.partition, offset: Number(p.offset) })));
    process.send({ type: 'commit', partitions });
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    process.send({ type: 'crash', error: String(payload.error && payload.error.stack) });
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (frozen) return hang();
      const value = message.value.toString();
      const { i } = JSON.parse(value);
      if (arm && i >= arm.from && i < arm.to) {
        if (taken === arm.after) {
          frozen = true;
          process.send({ type: 'frozen' });
          return hang();
        }
        taken += 1;
      }
      process.send({ type: 'message', partition, offset: Number(message.offset), value });
      return undefined;
    },
  });
}

// ---------------------------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------------------------
async function main() {
  const [bootstrap, topic, groupId] = process.argv.slice(2);
  check(bootstrap && topic && groupId, 'usage: group.js <bootstrap> <topic> <group>');
  setTimeout(() => fail('did not finish within 100 s'), 100_000).unref();

  const kafka = kafkaFor(bootstrap, 'fjord-group');
  const admin = kafka.admin();
  await admin.connect();
  check(
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true }),
    `topic ${topic} not created`
  );
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();

  // Produces records [from, from + CHUNK) in one acks=all request, checking where they landed.
  async function produce(from) {
    const messages = [];
    for (let i = from; i < from + CHUNK; i++) messages.push(record(i));
    const acks = await producer.send({ topic, acks: -1, messages });
    check(acks.length === PARTITIONS, () => `produce of ${from}..: ${JSON.stringify(acks)}`);
    for (const ack of acks) {
      check(
        ack.errorCode === 0 && Number(ack.baseOffset) === from / PARTITIONS,
        () => `records ${from}.. in partition ${ack.partition}: ${JSON.stringify(ack)}, expected base offset ${from / PARTITIONS}`
      );
    }
  }

  // What the members did.
  const joins = {}; // member name -> { memberId, partitions } from its latest GROUP_JOIN
  const consumed = []; // { member, partition, offset, i, key, seq, order } in arrival order
  const byRecord = new Map(); // i -> its consumptions
  let order = 0;
  const crashCommits = {}; // partition -> last offset the crashing member committed

  function onJoin(name, memberId, partitions) {
    joins[name] = { memberId, partitions: sorted(partitions) };
  }

  function onRecord(name, partition, offset, value) {
    const { i, key, seq } = JSON.parse(value);
    check(
      partition === i % PARTITIONS && offset === Math.floor(i / PARTITIONS),
      `${name} got record ${i} at ${partition}/${offset}, produced at ${i % PARTITIONS}/${Math.floor(i / PARTITIONS)}`
    );
    const assigned = joins[name] ? joins[name].partitions : [];
    check(assigned.includes(partition), () => `${name} consumed partition ${partition} outside its assignment ${assigned}`);
    const c = { member: name, partition, offset, i, key, seq, order: ++order };
    consumed.push(c);
    if (!byRecord.has(i)) byRecord.set(i, []);
    byRecord.get(i).push(c);
    return c;
  }

  const consumedBelow = (n) => {
    for (let i = 0; i < n; i++) if (!byRecord.has(i)) return false;
    return true;
  };
  const countIn = (name, from, to) => consumed.filter((c) => c.member === name && c.i >= from && c.i < to).length;

  // In-process members A and B.
  async function startMember(name, afterRecord) {
    const consumer = kafka.consumer(consumerConfig(groupId));
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) =>
      onJoin(name, payload.memberId, payload.memberAssignment[topic] || [])
    );
    consumer.on(consumer.events.CRASH, ({ payload }) => fail(`member ${name} crashed: ${payload.error && payload.error.stack}`));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const c = onRecord(name, partition, Number(message.offset), message.value.toString());
        if (afterRecord) afterRecord(c);
      },
    });
    return consumer;
  }

  // Member C, in a child process so that it can be killed without a LeaveGroup.
  let child = null;
  let childExpectedToDie = false;
  let childArmed = false;
  let childFrozen = false;
  let childExit = null;
  function startChild(name) {
    child = fork(__filename, ['--member', bootstrap, topic, groupId], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    process.on('exit', () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    child.on('message', (m) => {
      switch (m.type) {
        case 'join':
          onJoin(name, m.memberId, m.partitions);
          break;
        case 'message':
          onRecord(name, m.partition, m.offset, m.value);
          break;
        case 'commit':
          for (const { partition, offset } of m.partitions) crashCommits[partition] = offset;
          break;
        case 'armed':
          childArmed = true;
          break;
        case 'frozen':
          childFrozen = true;
          break;
        case 'crash':
          fail(`member ${name} crashed: ${m.error}`);
          break;
        default:
          fail(`unexpected message from member ${name}: ${JSON.stringify(m)}`);
      }
    });
    child.on('exit', (code, signal) => {
      childExit = { code, signal };
      if (!childExpectedToDie) fail(`member ${name} exited on its own (${code === null ? signal : code})`);
    });
  }

  const describe = async () => {
    const { groups } = await admin.describeGroups([groupId]);
    check(groups.length === 1 && groups[0].groupId === groupId, () => `DescribeGroups: ${JSON.stringify(groups)}`);
    return groups[0];
  };

  // Polls DescribeGroups until the group is Stable with exactly `names` as members and every
  // member's broker-side assignment equals the one its client got from SyncGroup (GROUP_JOIN).
  // Then those assignments must split the partitions: each to exactly one member, none idle.
  async function waitStable(names, label, ms = 30_000) {
    let last = 'nothing yet';
    const owners = await until(() => `group Stable with members ${names} (${label}); last seen: ${last}`, ms, async () => {
      const g = await describe();
      last = `${g.state} ${JSON.stringify(g.members.map((m) => m.memberId))}`;
      if (g.state !== 'Stable' || g.members.length !== names.length) return null;
      const owners = new Map();
      for (const m of g.members) {
        const name = names.find((n) => joins[n] && joins[n].memberId === m.memberId);
        if (!name) return null;
        const decoded = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
        const fromBroker = sorted((decoded && decoded.assignment[topic]) || []);
        if (JSON.stringify(fromBroker) !== JSON.stringify(joins[name].partitions)) return null;
        for (const p of fromBroker) {
          check(!owners.has(p), `${label}: partition ${p} assigned to both ${owners.get(p)} and ${name}`);
          owners.set(p, name);
        }
      }
      return owners;
    });
    check(owners.size === PARTITIONS, () => `${label}: only partitions ${[...owners.keys()]} assigned`);
    for (const n of names) {
      check([...owners.values()].includes(n), () => `${label}: member ${n} has no partitions`);
    }
    return owners;
  }

  // 1. Three members; a first chunk exists before they join, a second one is consumed by the
  //    stable three-member generation, each record by its partition's owner.
  await produce(0);
  const a = await startMember('A');
  let bLeaving = null;
  let armB = null;
  const b = await startMember('B', (c) => {
    if (armB && c.i >= armB.from && c.i < armB.to && countIn('B', armB.from, armB.to) === armB.after) {
      armB = null;
      // Not awaited: disconnect waits for this eachMessage to return. It stops the runner at
      // once, so B processes nothing after this record, commits at the end of the batch and
      // then sends LeaveGroup.
      bLeaving = b.disconnect();
    }
  });
  startChild('C');
  const owners3 = await waitStable(['A', 'B', 'C'], 'three members');
  await until('the first chunk consumed', 20_000, () => consumedBelow(CHUNK));
  await produce(CHUNK);
  await until('the second chunk consumed', 20_000, () => consumedBelow(2 * CHUNK));
  for (let i = CHUNK; i < 2 * CHUNK; i++) {
    const cs = byRecord.get(i);
    const owner = owners3.get(i % PARTITIONS);
    check(cs.length === 1 && cs[0].member === owner, () => `record ${i} consumed by ${cs.map((c) => c.member)}, its partition's owner is ${owner}`);
  }

  // 2. B leaves cleanly after TAIL records of the third chunk: LeaveGroup removes it at once.
  const bMemberId = joins.B.memberId;
  const bPartitions = [...owners3].filter(([, n]) => n === 'B').map(([p]) => p);
  armB = { from: 2 * CHUNK, to: 3 * CHUNK, after: TAIL };
  await produce(2 * CHUNK);
  await until('B to start leaving', 20_000, () => bLeaving !== null);
  await bLeaving;
  check(countIn('B', 2 * CHUNK, 3 * CHUNK) === TAIL, () => `B consumed ${countIn('B', 2 * CHUNK, 3 * CHUNK)} records of the third chunk before leaving, expected ${TAIL}`);
  const afterLeave = await describe();
  check(
    !afterLeave.members.some((m) => m.memberId === bMemberId),
    () => `after LeaveGroup returned, ${bMemberId} is still a member: ${JSON.stringify(afterLeave.members.map((m) => m.memberId))}`
  );
  const owners2 = await waitStable(['A', 'C'], `after B (partitions ${bPartitions}) left`);
  await until('the third chunk consumed', 20_000, () => consumedBelow(3 * CHUNK));

  // 3. C takes TAIL records of the fourth chunk without committing them, hangs, and is killed.
  const cMemberId = joins.C.memberId;
  const cPartitions = [...owners2].filter(([, n]) => n === 'C').map(([p]) => p);
  child.send({ type: 'arm', from: 3 * CHUNK, to: 4 * CHUNK, after: TAIL });
  await until('C to acknowledge', 10_000, () => childArmed);
  await produce(3 * CHUNK);
  await until('C to hang mid-batch', 20_000, () => childFrozen);
  check(countIn('C', 3 * CHUNK, 4 * CHUNK) === TAIL, () => `C consumed ${countIn('C', 3 * CHUNK, 4 * CHUNK)} records of the fourth chunk, expected ${TAIL}`);
  childExpectedToDie = true;
  const killOrder = order;
  child.kill('SIGKILL');
  await until('C to die', 10_000, () => childExit);
  // Nobody else may commit C's partitions until C's session expires and the group rebalances,
  // so these are C's last commits, whatever was in flight when it died.
  const atKill = await admin.fetchOffsets({ groupId, topics: [topic] });
  const committedAtKill = {};
  for (const { partition, offset } of atKill[0].partitions) committedAtKill[partition] = Number(offset);
  const afterKill = await describe();
  check(
    afterKill.members.some((m) => m.memberId === cMemberId),
    () => `a member that stopped heartbeating was dropped before its ${SESSION_TIMEOUT} ms session timeout (state ${afterKill.state}, members ${JSON.stringify(afterKill.members.map((m) => m.memberId))})`
  );
  for (const p of cPartitions) {
    check(
      crashCommits[p] === undefined || crashCommits[p] <= committedAtKill[p],
      () => `partition ${p}: C committed ${crashCommits[p]} but the group's offset is ${committedAtKill[p]}`
    );
  }

  // 4. The second wave while C is dead; after its session times out A owns everything.
  for (let from = 4 * CHUNK; from < TOTAL; from += CHUNK) await produce(from);
  const owners1 = await waitStable(['A'], `after C's session timed out`, 30_000);
  await until('every record consumed', 30_000, () => consumedBelow(TOTAL));

  // Where A resumed each of C's partitions: the first offset it consumed there after the kill.
  const resumedAt = {};
  for (const c of consumed) {
    if (c.member === 'A' && c.order > killOrder && cPartitions.includes(c.partition)) {
      resumedAt[c.partition] = Math.min(resumedAt[c.partition] ?? Infinity, c.offset);
    }
  }
  for (const p of cPartitions) {
    check(
      resumedAt[p] === committedAtKill[p],
      () => `partition ${p}: after the crash A resumed at ${resumedAt[p]}, the committed offset was ${committedAtKill[p]}`
    );
  }

  // Exactly once, except C's uncommitted tail: consumed by C before the kill and by A after it.
  const tail = new Set(
    consumed
      .filter((c) => c.member === 'C' && cPartitions.includes(c.partition) && c.offset >= committedAtKill[c.partition])
      .map((c) => c.i)
  );
  for (let i = 0; i < TOTAL; i++) {
    const cs = byRecord.get(i) || [];
    const who = () => cs.map((c) => `${c.member}#${c.order}`).join(', ');
    if (tail.has(i)) {
      check(
        cs.length === 2 && cs[0].member === 'C' && cs[1].member === 'A' && cs[1].order > killOrder,
        () => `record ${i} in the crashed member's uncommitted tail was consumed by ${who()}, expected by C and then by A after the crash`
      );
    } else {
      check(cs.length === 1, () => `record ${i} consumed ${cs.length} times (${who()})`);
    }
  }
  check(tail.size === TAIL, () => `the crashed member's uncommitted tail is ${tail.size} records, expected the ${TAIL} it took without committing`);

  // Order: each member's stream is in offset order per partition (so in sequence per key); the
  // in-process members A and B together, in their common arrival order, are in sequence per key.
  for (const name of ['A', 'B', 'C']) {
    const last = {};
    for (const c of consumed.filter((x) => x.member === name)) {
      check(last[c.key] === undefined || c.seq > last[c.key], () => `${name} consumed key ${c.key} seq ${c.seq} after seq ${last[c.key]}`);
      last[c.key] = c.seq;
    }
  }
  const lastInProcess = {};
  for (const c of consumed.filter((x) => x.member !== 'C')) {
    check(
      lastInProcess[c.key] === undefined || c.seq > lastInProcess[c.key],
      () => `key ${c.key}: ${c.member} consumed seq ${c.seq} after seq ${lastInProcess[c.key]} had been consumed`
    );
    lastInProcess[c.key] = c.seq;
  }

  // Committed offsets reach the high watermarks (A commits after each batch it processed).
  const watermarks = await admin.fetchTopicOffsets(topic);
  const high = {};
  for (const w of watermarks) {
    check(w.low === '0' && Number(w.high) === TOTAL / PARTITIONS, () => `watermarks ${JSON.stringify(watermarks)}`);
    high[w.partition] = Number(w.high);
  }
  // The group's committed offsets, partition -> offset string, and checks on them.
  const committed = async () => {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const offsets = {};
    for (const { partition, offset } of t.partitions) offsets[partition] = offset;
    return offsets;
  };
  const matches = (offsets, expected) =>
    Object.keys(offsets).length === PARTITIONS && [0, 1, 2, 3].every((p) => offsets[p] === String(expected(p)));
  async function expectCommitted(expected, label) {
    const offsets = await committed();
    check(matches(offsets, expected), () => `${label}: committed offsets ${JSON.stringify(offsets)}`);
  }
  async function untilCommitted(expected, label, ms) {
    let offsets = null;
    await until(() => `${label}; committed offsets ${JSON.stringify(offsets)}`, ms, async () => {
      offsets = await committed();
      return matches(offsets, expected);
    });
  }
  await untilCommitted((p) => high[p], 'committed offsets to reach the high watermarks', 15_000);

  // 5. Admin views of the live group, then of the empty one.
  const live = await describe();
  check(
    live.state === 'Stable' && live.protocolType === 'consumer' && live.protocol === 'RoundRobinAssigner',
    () => `live group: ${live.state} ${live.protocolType} ${live.protocol}`
  );
  check(
    live.members.length === 1 && live.members[0].memberId === joins.A.memberId && owners1.size === PARTITIONS,
    () => `live members ${JSON.stringify(live.members.map((m) => m.memberId))}, expected only A ${joins.A.memberId}`
  );
  const refused = await admin.deleteGroups([groupId]).then(
    (r) => `succeeded: ${JSON.stringify(r)}`,
    (e) => e
  );
  check(
    refused instanceof Error && refused.groups && refused.groups[0] && refused.groups[0].errorCode === 68,
    () => `DeleteGroups of a group with an active member: expected NON_EMPTY_GROUP (68), got ${refused && (refused.groups ? JSON.stringify(refused.groups) : refused)}`
  );

  await a.disconnect();
  await producer.disconnect();
  const empty = await describe();
  check(empty.state === 'Empty' && empty.members.length === 0, () => `after the last member left: ${empty.state}, ${empty.members.length} members`);
  await expectCommitted((p) => high[p], 'after the group emptied');
  const listed = (await admin.listGroups()).groups.filter((g) => g.groupId === groupId);
  check(listed.length === 1 && listed[0].protocolType === 'consumer', () => `ListGroups: ${JSON.stringify(listed)}`);

  // resetOffsets to earliest commits the EARLIEST sentinel (-2), which OffsetFetch returns as is.
  await admin.resetOffsets({ groupId, topic, earliest: true });
  await expectCommitted(() => -2, 'after resetOffsets(earliest)');

  // setOffsets to explicit offsets; a new member resumes exactly there.
  const setTo = (p) => high[p] - 10 + p;
  await admin.setOffsets({ groupId, topic, partitions: [0, 1, 2, 3].map((p) => ({ partition: p, offset: String(setTo(p)) })) });
  await expectCommitted(setTo, 'after setOffsets');
  const resumed = [];
  const d = kafka.consumer(consumerConfig(groupId));
  d.on(d.events.CRASH, ({ payload }) => fail(`member D crashed: ${payload.error && payload.error.stack}`));
  await d.connect();
  await d.subscribe({ topic, fromBeginning: true });
  await d.run({ eachMessage: async ({ partition, message }) => resumed.push([partition, Number(message.offset)]) });
  const expectedResume = [];
  for (let p = 0; p < PARTITIONS; p++) for (let o = setTo(p); o < high[p]; o++) expectedResume.push([p, o]);
  await until('D to consume from the set offsets', 20_000, () => resumed.length >= expectedResume.length);
  await untilCommitted((p) => high[p], 'D to commit what it consumed', 15_000);
  await d.disconnect();
  const key = ([p, o]) => p * 1e6 + o;
  check(
    JSON.stringify(resumed.map(key).sort((x, y) => x - y)) === JSON.stringify(expectedResume.map(key)),
    () => `after setOffsets a new member consumed ${JSON.stringify(resumed)}, expected ${JSON.stringify(expectedResume)}`
  );

  // DeleteGroups removes the group and its offsets.
  const deleted = await admin.deleteGroups([groupId]);
  check(deleted.length === 1 && deleted[0].groupId === groupId && deleted[0].errorCode === 0, () => `DeleteGroups: ${JSON.stringify(deleted)}`);
  check(!(await admin.listGroups()).groups.some((g) => g.groupId === groupId), 'deleted group still listed');
  await expectCommitted(() => -1, 'after DeleteGroups (no offsets: -1)');
  const gone = await describe();
  check(gone.state === 'Dead' && gone.members.length === 0, () => `deleted group described as ${gone.state} with ${gone.members.length} members`);
  await admin.disconnect();

  console.log(`ok kafkajs group (${TOTAL} records, crashed member's tail of ${tail.size} redelivered)`);
  process.exit(0);
}

if (process.argv[2] === '--member') {
  member(...process.argv.slice(3)).catch((e) => {
    process.send({ type: 'crash', error: String(e && e.stack) });
  });
} else {
  main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
}
