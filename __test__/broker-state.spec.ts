// The broker example's durable state (examples/kafka-broker/state/) on both backends:
// committed offsets and producer ids survive close and reopen, producer ids are never
// handed out twice, the WAL stays bounded over many commits (snapshots, then
// truncateBefore deletes files), a torn tail recovers to the last whole record, a torn
// snapshot is ignored, and a record of an unknown format version is refused by name.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { openWal } from '../ts/index'
import { openGroups } from '../examples/kafka-broker/groups/index'
import { Replayer } from '../examples/kafka-broker/state/image'
import { RecordKind, decodeRecord, encodeRecord, type OffsetCommitRecord } from '../examples/kafka-broker/state/records'
import { STATE_DIR_NAME, openBrokerState } from '../examples/kafka-broker/state/store'
import { backends, openBackend, tmpDir } from './helpers/backends'

const SMALL_SEGMENT_BYTES = 64 * 1024

function walFilesOf(dir: string): string[] {
  return fs
    .readdirSync(path.join(dir, STATE_DIR_NAME))
    .filter((n) => /^\d{20}\.wal$/.test(n))
    .sort()
}

const commit = (topic: string, partition: number, offset: number, metadata = '') => ({ topic, partition, offset, leaderEpoch: -1, metadata })

for (const backend of backends) {
  test(`${backend}: committed offsets survive close and reopen (offset, leader epoch, metadata), through openGroups too`, async (t) => {
    const dir = tmpDir(t, 'broker-state-')
    const io = await openBackend(t, backend)
    let state = await openBrokerState(io, dir)
    await state.commitOffsets('g1', [commit('orders', 0, 10, 'meta-0'), { ...commit('orders', 1, 11), leaderEpoch: 4 }])
    await state.commitOffsets('g2', [commit('orders', 0, 99)])
    await state.commitOffsets('g1', [commit('orders', 0, 12, 'meta-0b')])
    t.is(state.committedOffset('g1', 'orders', 0)?.offset, 12, 'visible once the commit resolved')
    await state.close()

    state = await openBrokerState(io, dir)
    t.like(state.committedOffset('g1', 'orders', 0), { offset: 12, leaderEpoch: -1, metadata: 'meta-0b' })
    t.like(state.committedOffset('g1', 'orders', 1), { offset: 11, leaderEpoch: 4, metadata: '' })
    t.is(state.committedOffset('g2', 'orders', 0)?.offset, 99)
    t.is(state.committedOffset('g2', 'orders', 1), null)
    await state.close()

    // The same through the coordinator the broker uses.
    const groups = await openGroups(io, dir)
    const fetched = await groups.groups.fetchOffsets({ groupId: 'g1', topics: null })
    t.deepEqual(
      fetched.topics.map((x) => [x.name, x.partitions.map((p) => [p.partitionIndex, p.committedOffset, p.committedLeaderEpoch, p.metadata])]),
      [
        [
          'orders',
          [
            [0, 12, -1, 'meta-0b'],
            [1, 11, 4, ''],
          ],
        ],
      ],
    )
    const res = await groups.groups.commitOffsets({ groupId: 'g1', generationId: -1, memberId: '', groupInstanceId: null, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 13, committedLeaderEpoch: -1, committedMetadata: null }] }] })
    t.is(res.topics[0].partitions[0].errorCode, 0)
    await groups.close()
    const again = await openBrokerState(io, dir)
    t.is(again.committedOffset('g1', 'orders', 0)?.offset, 13, 'a commit through the coordinator is durable')
    await again.close()
  })

  test(`${backend}: producer ids are never handed out twice, across reopen; a transactional id keeps its id with a bumped epoch`, async (t) => {
    const dir = tmpDir(t, 'broker-state-')
    const io = await openBackend(t, backend)
    const seen = new Set<number>()
    let last = 0
    for (let round = 0; round < 3; round++) {
      const groups = await openGroups(io, dir)
      // Concurrent allocations (one group commit) must still be distinct.
      const ids = await Promise.all(Array.from({ length: 8 }, () => groups.producerIds.next(null)))
      for (const { producerId, producerEpoch } of ids) {
        t.false(seen.has(producerId), `producer id ${producerId} reused (round ${round})`)
        t.true(producerId > last, `producer id ${producerId} after reopen is above every earlier one (${last})`)
        t.is(producerEpoch, 0)
        seen.add(producerId)
      }
      const txn = await groups.producerIds.next('txn-1')
      t.is(txn.producerEpoch, round, `txn-1 epoch after ${round} reopen(s)`)
      if (round === 0) {
        t.false(seen.has(txn.producerId), 'a transactional id gets an id of its own')
        seen.add(txn.producerId)
      }
      last = Math.max(last, txn.producerId, ...ids.map((x) => x.producerId))
      await groups.close()
    }
    t.is(seen.size, 3 * 8 + 1)
  })

  test(`${backend}: the WAL stays bounded over many commits: snapshots, truncateBefore, old files deleted; the state reopens exact`, async (t) => {
    const dir = tmpDir(t, 'broker-state-')
    const io = await openBackend(t, backend)
    const opts = { segmentBytes: SMALL_SEGMENT_BYTES, snapshotEveryRecords: 300 }
    let state = await openBrokerState(io, dir, opts)
    const PARTITIONS = 40
    const ROUNDS = 120
    const expected = new Map<number, number>()
    let maxFiles = 0
    for (let round = 0; round < ROUNDS; round++) {
      // One commit per partition, all at once: they share group commits.
      await Promise.all(
        Array.from({ length: PARTITIONS }, (_, p) => {
          const offset = round * 1000 + p
          expected.set(p, offset)
          return state.commitOffsets('bounded', [commit('t', p, offset, `round-${round}`)])
        }),
      )
      maxFiles = Math.max(maxFiles, walFilesOf(dir).length)
    }
    const written = ROUNDS * PARTITIONS
    const stats = state.stats()
    t.log(`${written} commits: lastLsn ${stats.lastLsn}, firstLsn ${stats.firstLsn}, ${stats.snapshotsWritten} snapshots, at most ${maxFiles} files, ${walFilesOf(dir).length} now`)
    t.true(stats.lastLsn >= written, `lastLsn ${stats.lastLsn} >= ${written} records`)
    t.true(stats.snapshotsWritten >= 5, `snapshots written: ${stats.snapshotsWritten}`)
    t.true(stats.firstLsn > written / 2, `firstLsn advanced: ${stats.firstLsn} of ${stats.lastLsn}`)
    // Unbounded, ~4800 records of ~60 bytes would fill about 6 files of 64 KiB.
    t.true(maxFiles <= 4, `at most 4 WAL files at any time, saw ${maxFiles}`)
    await state.close()

    state = await openBrokerState(io, dir, opts)
    t.true(state.stats().recovery.snapshots >= 1, 'reopen replays from a snapshot')
    for (const [p, offset] of expected) t.like(state.committedOffset('bounded', 't', p), { offset, metadata: `round-${ROUNDS - 1}` }, `partition ${p}`)
    await state.close()
  })

  test(`${backend}: a torn tail recovers to the last whole record; the state then takes commits and reopens`, async (t) => {
    const dir = tmpDir(t, 'broker-state-')
    const io = await openBackend(t, backend)
    let state = await openBrokerState(io, dir, { segmentBytes: SMALL_SEGMENT_BYTES })
    for (let i = 1; i <= 20; i++) await state.commitOffsets('torn', [commit('t', 0, i)])
    await state.close()

    // Corrupt the payload of the newest file's last frame (format: docs/FORMATS.md — a
    // 4096-byte header, then frames of u32 length, u32 crc, u64 lsn, payload padded to 8).
    const files = walFilesOf(dir)
    const file = path.join(dir, STATE_DIR_NAME, files[files.length - 1])
    const bytes = fs.readFileSync(file)
    let pos = 4096
    let lastFrame = -1
    while (pos + 16 <= bytes.length) {
      const len = bytes.readUInt32LE(pos)
      if (len === 0 && bytes.readUInt32LE(pos + 4) === 0) break
      lastFrame = pos
      pos += 16 + Math.ceil(len / 8) * 8
    }
    t.true(lastFrame > 0, 'found the last frame')
    const fd = fs.openSync(file, 'r+')
    fs.writeSync(fd, Buffer.from([bytes[lastFrame + 20] ^ 0xff]), 0, 1, lastFrame + 20)
    fs.closeSync(fd)

    state = await openBrokerState(io, dir, { segmentBytes: SMALL_SEGMENT_BYTES })
    const rec = state.stats().recovery
    t.true(rec.truncatedBytes > 0, `torn bytes dropped: ${JSON.stringify(rec)}`)
    t.is(state.committedOffset('torn', 't', 0)?.offset, 19, 'the state is that of the last whole record')
    await state.commitOffsets('torn', [commit('t', 0, 21)])
    await state.close()
    state = await openBrokerState(io, dir, { segmentBytes: SMALL_SEGMENT_BYTES })
    t.is(state.committedOffset('torn', 't', 0)?.offset, 21)
    t.is(state.stats().recovery.truncatedBytes, 0, 'clean after recovery')
    await state.close()
  })

  test(`${backend}: a record of an unknown format version refuses to open, by name (never skipped)`, async (t) => {
    const dir = tmpDir(t, 'broker-state-')
    const io = await openBackend(t, backend)
    const wal = await openWal(io, path.join(dir, STATE_DIR_NAME))
    await wal.append(Buffer.from([99, 1, 0, 0]))
    await wal.close()
    await t.throwsAsync(() => openBrokerState(io, dir), { message: /format version 99/ })
    // The WAL was released: it can be opened again (e.g. to inspect it).
    const again = await openWal(io, path.join(dir, STATE_DIR_NAME))
    await again.close()
  })
}

const offsetRec = (offset: number): OffsetCommitRecord => ({ kind: RecordKind.OffsetCommit, group: 'g', topic: 't', partition: 0, offset, leaderEpoch: -1, metadata: '', commitTimestampMs: 0 })

test('replay: a snapshot replaces the state only when it ends whole; a torn or interrupted snapshot is dropped', (t) => {
  const run = (records: Parameters<Replayer['feed']>[0][]): { offset: number | undefined; r: Replayer } => {
    const r = new Replayer()
    // Through the codec, as replay sees them.
    for (const rec of records) r.feed(decodeRecord(encodeRecord(rec), 'test'))
    const image = r.finish()
    return { offset: image.offsets.get('g')?.get('t')?.get(0)?.offset, r }
  }
  const begin = (entryCount: number, nextProducerId = 1) => ({ kind: RecordKind.SnapshotBegin as const, nextProducerId, entryCount })
  const entries = (...offsets: number[]) => ({ kind: RecordKind.SnapshotEntries as const, entries: offsets.map(offsetRec) })
  const end = (entryCount: number) => ({ kind: RecordKind.SnapshotEnd as const, entryCount })

  const whole = run([offsetRec(1), begin(1), entries(5), end(1), offsetRec(6)])
  t.is(whole.offset, 6)
  t.is(whole.r.snapshots, 1)
  t.is(run([offsetRec(1), begin(1), entries(5), end(1)]).offset, 5, 'the snapshot is the state')
  const torn = run([offsetRec(1), begin(1), entries(5)])
  t.is(torn.offset, 1, 'a snapshot without its end (torn tail) is ignored')
  t.is(torn.r.abandonedSnapshots, 1)
  t.is(run([offsetRec(1), begin(2), entries(5), offsetRec(7)]).offset, 7, 'a data record after a cut-short snapshot applies as usual')
  t.is(run([offsetRec(1), begin(2), entries(5), end(2)]).offset, 1, 'an end whose count disagrees drops the snapshot')
  t.is(run([entries(5), end(1), offsetRec(2)]).offset, 2, 'the tail of a snapshot whose begin is gone is ignored')
  const pid = new Replayer()
  pid.feed({ kind: RecordKind.ProducerId, nextProducerId: 50 })
  pid.feed(begin(0, 10))
  pid.feed(end(0))
  t.is(pid.finish().nextProducerId, 50, 'producer ids never move backwards, even across a snapshot')
})

test('records: the codec round-trips every kind and refuses garbage with a clear error', (t) => {
  const recs = [
    offsetRec(12345678901),
    { kind: RecordKind.ProducerId as const, nextProducerId: 77 },
    { kind: RecordKind.TxnProducer as const, transactionalId: 'tx-é', producerId: 5, producerEpoch: 32767 },
    { kind: RecordKind.SnapshotBegin as const, nextProducerId: 9, entryCount: 2 },
    { kind: RecordKind.SnapshotEntries as const, entries: [offsetRec(1), { kind: RecordKind.TxnProducer as const, transactionalId: 'x', producerId: 1, producerEpoch: 0 }] },
    { kind: RecordKind.SnapshotEnd as const, entryCount: 2 },
  ]
  for (const r of recs) t.deepEqual(decodeRecord(encodeRecord(r), 'test'), r)
  t.throws(() => decodeRecord(Buffer.from([1]), 'LSN 3'), { message: /LSN 3.*shorter/ })
  t.throws(() => decodeRecord(Buffer.from([1, 42]), 'LSN 4'), { message: /unknown kind 42/ })
  t.throws(() => decodeRecord(encodeRecord(offsetRec(1)).subarray(0, 10), 'LSN 5'), { message: /truncated/ })
  t.throws(() => decodeRecord(Buffer.concat([encodeRecord(offsetRec(1)), Buffer.from([0])]), 'LSN 6'), { message: /left after/ })
})
