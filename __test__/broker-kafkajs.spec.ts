// The broker example with kafkajs, a client nobody here wrote (issue 14): a producer with
// acks = −1, a consumer group of two members that rebalances when one joins and when one
// leaves, and committed offsets that survive a broker restart. Both backends.

import test, { type ExecutionContext } from 'ava'
import { Kafka, logLevel, type Consumer, type EachMessagePayload } from 'kafkajs'

import { backends, tmpDir, type BackendName } from './helpers/backends'
import { startBrokerChild, type BrokerChild } from './helpers/broker'
import { eventually } from './helpers/log-api-util'

const PARTITIONS = 4
const TOPIC = 'orders'
const GROUP = 'billing'

function client(port: number, id: string): Kafka {
  return new Kafka({
    clientId: id,
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.NOTHING,
    retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 },
  })
}

/** One consumer of the group, recording what it got (value → times seen) and its joins. */
interface Member {
  name: string
  consumer: Consumer
  seen: Map<string, number>
  /** Partitions assigned at its latest GROUP_JOIN. */
  assigned: number[]
  joins: number
}

async function member(port: number, name: string, into: Map<string, number>): Promise<Member> {
  const consumer = client(port, name).consumer({
    groupId: GROUP,
    // Short timeouts keep the rebalances quick; the broker accepts sessions from 1 s up.
    sessionTimeout: 6000,
    rebalanceTimeout: 6000,
    heartbeatInterval: 300,
    maxWaitTimeInMs: 200,
  })
  const m: Member = { name, consumer, seen: new Map(), assigned: [], joins: 0 }
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    m.joins++
    m.assigned = (e.payload.memberAssignment[TOPIC] ?? []).slice().sort((a, b) => a - b)
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ message }: EachMessagePayload) => {
      const v = message.value!.toString()
      m.seen.set(v, (m.seen.get(v) ?? 0) + 1)
      into.set(v, (into.get(v) ?? 0) + 1)
    },
  })
  return m
}

/** Waits for `cond` (helpers' `eventually`); on a timeout, the broker's last log lines say why. */
async function until(t: ExecutionContext, what: string, cond: () => boolean, broker: BrokerChild, ms = 45_000): Promise<void> {
  if (await eventually(cond, ms)) return
  t.log(broker.stderr().split('\n').slice(-40).join('\n'))
  throw new Error(`timed out after ${ms} ms waiting for: ${what}`)
}

const values = (phase: string, n: number) => Array.from({ length: n }, (_, i) => `${phase}-${i}`)

async function produce(port: number, phase: string, n: number): Promise<string[]> {
  const producer = client(port, `producer-${phase}`).producer({ maxInFlightRequests: 1, allowAutoTopicCreation: true })
  await producer.connect()
  const vs = values(phase, n)
  try {
    for (let i = 0; i < n; i += 25) {
      await producer.send({
        topic: TOPIC,
        acks: -1,
        messages: vs.slice(i, i + 25).map((value, j) => ({
          partition: (i + j) % PARTITIONS,
          key: `key-${(i + j) % 7}`,
          value,
          headers: { phase, n: String(i + j) },
        })),
      })
    }
  } finally {
    await producer.disconnect()
  }
  return vs
}

for (const backend of backends) {
  test.serial(`${backend}: kafkajs producer (acks −1) and a two-member group that rebalances on join and leave; committed offsets survive a restart`, async (t) => {
    t.timeout(240_000)
    const dir = tmpDir(t)
    // A short initial rebalance delay (Kafka's is 3 s) keeps the joins quick.
    const run = (b: BackendName) => startBrokerChild(t, b, dir, ['--partitions', String(PARTITIONS), '--group-initial-rebalance-delay-ms', '300'])
    let broker = await run(backend)
    const all = new Map<string, number>()
    const sent: string[] = []

    sent.push(...(await produce(broker.port, 'a', 200)))
    const a = await member(broker.port, 'member-a', all)
    await until(t, 'member a consumes the first 200', () => sent.every((v) => all.has(v)), broker)
    t.deepEqual(a.assigned, [0, 1, 2, 3], 'alone, member a owns every partition')

    // A second member joins: the group rebalances and splits the partitions.
    const b = await member(broker.port, 'member-b', all)
    await until(t, 'a rebalance that gives each member some partitions', () => b.assigned.length > 0 && a.assigned.length > 0 && a.assigned.length + b.assigned.length === PARTITIONS, broker)
    t.true(a.joins >= 2, 'member a rejoined for the rebalance')
    sent.push(...(await produce(broker.port, 'b', 200)))
    await until(t, 'the second 200 consumed across both members', () => sent.every((v) => all.has(v)), broker)
    t.true(b.seen.size > 0 && [...b.seen.keys()].some((v) => v.startsWith('b-')), 'member b consumed its share')

    // b leaves: a gets everything back.
    await b.consumer.disconnect()
    await until(t, 'member a owns every partition again', () => a.assigned.length === PARTITIONS, broker)
    sent.push(...(await produce(broker.port, 'c', 200)))
    await until(t, 'the third 200 consumed by member a', () => sent.every((v) => all.has(v)), broker)

    const duplicates = [...all.values()].filter((n) => n > 1).length
    t.log(`${backend}: ${sent.length} messages, ${all.size} distinct consumed, ${duplicates} seen more than once (only across a rebalance)`)
    t.is(all.size, sent.length, 'nothing invented, nothing lost')
    t.true(duplicates <= 200, 'duplicates only around the rebalances')
    await a.consumer.disconnect()

    // Restart: the committed offsets are where the group resumes.
    t.deepEqual(await broker.stop(), { code: 0, signal: null }, `SIGTERM drains and exits 0:\n${broker.stderr()}`)
    broker = await run(backend)
    const resumed = new Map<string, number>()
    const c = await member(broker.port, 'member-c', resumed)
    const fresh = await produce(broker.port, 'd', 40)
    await until(t, 'member c consumes the 40 produced after the restart', () => fresh.every((v) => resumed.has(v)), broker)
    await new Promise((r) => setTimeout(r, 500))
    const old = [...resumed.keys()].filter((v) => !v.startsWith('d-'))
    t.deepEqual(old, [], 'after the restart the group resumes at its committed offsets: nothing before them comes again')
    await c.consumer.disconnect()
    t.deepEqual(await broker.stop(), { code: 0, signal: null })
  })
}
