// kill -9 of the broker example while kafkajs produces with acks = −1 (issue 14): after a
// restart every acknowledged message is consumed back (by kcat, CRCs checked), in the
// order the producer had them acknowledged, and nothing appears that was never sent.
// Both backends; several kill points per backend.

import test from 'ava'
import { Kafka, logLevel } from 'kafkajs'

import { backends, tmpDir } from './helpers/backends'
import { startBroker } from './helpers/broker-process'
import { kcatConsumeAll, kcatMissing } from './helpers/kcat'

const TOPIC = 'ledger'
const ROUNDS = 3

for (const backend of backends) {
  test.serial(`${backend}: kill -9 during acks −1 produce loses no acknowledged message (${ROUNDS} kills)`, async (t) => {
    const missing = kcatMissing()
    if (missing !== null) return t.fail(missing)
    t.timeout(180_000)
    const dir = tmpDir(t)
    const acked: string[] = []
    const attempted = new Set<string>()
    for (let round = 0; round < ROUNDS; round++) {
      const broker = await startBroker({ dir, backend })
      t.teardown(() => broker.kill())
      const kafka = new Kafka({ clientId: `crash-${round}`, brokers: [`127.0.0.1:${broker.port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } })
      const producer = kafka.producer({ maxInFlightRequests: 1, allowAutoTopicCreation: true, retry: { retries: 0 } })
      await producer.connect()
      // Kill after a number of acknowledgements that differs per round, mid-stream: the
      // next send is in flight (or just sent) when the broker dies.
      const killAfter = 40 + round * 37
      let sentThisRound = 0
      let killed = false
      const producing = (async () => {
        for (let i = 0; ; i++) {
          const batch = Array.from({ length: 1 + (i % 5) }, (_, j) => `r${round}-m${i}-${j}`)
          batch.forEach((v) => attempted.add(v))
          try {
            await producer.send({ topic: TOPIC, acks: -1, messages: batch.map((value) => ({ key: value.slice(0, 4), value })) })
          } catch {
            if (killed) return
            throw new Error(`a send failed before the kill:\n${broker.output()}`)
          }
          acked.push(...batch)
          sentThisRound += batch.length
          if (sentThisRound >= killAfter && !killed) {
            killed = true
            // The kill races the next send: it is issued without awaiting it.
            setImmediate(() => void broker.kill())
          }
        }
      })()
      await producing
      await broker.kill()
      await producer.disconnect().catch(() => undefined)
    }

    const broker = await startBroker({ dir, backend })
    const consumed = await kcatConsumeAll(broker.port, TOPIC)
    t.is(await broker.stop(), 0)
    const values = consumed.map((m) => m.value)
    const offsets = consumed.map((m) => m.offset)
    t.deepEqual(offsets, offsets.map((_, i) => i), 'offsets 0, 1, 2, … with no gap')
    const invented = values.filter((v) => !attempted.has(v))
    t.deepEqual(invented, [], 'nothing consumed that was never sent')
    const present = new Set(values)
    const lost = acked.filter((v) => !present.has(v))
    t.deepEqual(lost, [], 'every acknowledged message survives kill -9')
    // First-appearance order of the acknowledged messages is the order of their acks.
    const firstSeen = new Map<string, number>()
    values.forEach((v, i) => firstSeen.has(v) || firstSeen.set(v, i))
    const positions = acked.map((v) => firstSeen.get(v)!)
    t.true(positions.every((p, i) => i === 0 || p > positions[i - 1]), 'acknowledged messages appear in the order they were acknowledged')
    t.log(`${backend}: ${acked.length} acknowledged, ${values.length} consumed (${values.length - acked.length} unacknowledged that survived) over ${ROUNDS} kills`)
  })
}
