// io.metrics() and io.prometheus(): the same names and meaning on both backends, and
// an exposition a Prometheus parser takes as it is.
import path from 'node:path'
import test from 'ava'

import fs from 'node:fs'
import { openWal } from '../ts/index'
import { Histogram } from '../ts/metrics'
import { backends, openBackend, tmpDir } from './helpers/backends'

test('Histogram percentiles are within one sub-bucket (12.5%) of the exact value', (t) => {
  const h = new Histogram()
  const values = Array.from({ length: 10_000 }, (_, i) => 1 + ((i * 7919) % 100_000) / 10)
  for (const v of values) h.record(v)
  const sorted = [...values].sort((a, b) => a - b)
  for (const p of [50, 90, 99, 99.9]) {
    const exact = sorted[Math.ceil((p / 100) * sorted.length) - 1]
    const got = h.percentile(p)
    t.true(got >= exact && got <= exact * 1.125 + 1e-9, `p${p}: exact ${exact}, histogram ${got}`)
  }
  t.is(h.count, values.length)
  t.is(new Histogram().percentile(50), 0)
})

/** Parses the text format back: every sample line is `name{labels} value`. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>()
  const typed = new Set<string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line)
    if (meta) {
      if (meta[1] === 'TYPE') typed.add(meta[2])
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|\+Inf|NaN)$/.exec(line)
    if (!m) throw new Error(`not a sample line: ${line}`)
    const family = m[1].replace(/_(bucket|sum|count)$/, '')
    if (!typed.has(m[1]) && !typed.has(family)) throw new Error(`sample before its TYPE line: ${line}`)
    samples.set(m[1] + (m[2] ?? ''), Number(m[3]))
  }
  return samples
}

for (const backend of backends) {
  test(`${backend}: metrics count operations, bytes and errors by kind`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const f = await io.create(path.join(dir, 'f'))
    await Promise.all(Array.from({ length: 10 }, (_, i) => f.writeAt(Buffer.alloc(1000, i), i * 1000)))
    await f.readAt(Buffer.alloc(4000), 8000) // 2000 bytes before EOF
    await f.syncData()
    await f.syncAll()
    await f.size()
    await f.truncate(5000)
    await f.allocate(8192)
    await io.batch().writeAt(f, Buffer.alloc(10), 0, { link: true }).syncData(f).submit()
    await io.open(path.join(dir, 'missing')).catch(() => {})
    const m = io.metrics()
    t.is(m.backend, backend === 'io_uring' && io.backend === 'io_uring' ? 'io_uring' : io.backend)
    t.is(m.ops.write.count, 11)
    t.is(m.ops.write.bytes, 10_010)
    t.is(m.ops.read.count, 1)
    t.is(m.ops.read.bytes, 2000)
    t.is(m.ops.fdatasync.count, 2)
    t.is(m.ops.fsync.count, 1)
    t.is(m.ops.fstat.count, 1)
    t.is(m.ops.ftruncate.count, 1)
    t.is(m.ops.fallocate.count, 1)
    t.is(m.ops.open.count, 2)
    t.is(m.ops.open.errors, 1)
    t.is(m.batches, 1)
    t.is(m.batchOperations, 2)
    t.is(m.averageBatchSize, 2)
    t.is(m.inFlight, 0)
    t.is(m.queued, 0)
    t.true(m.ops.write.latencyUs.p50 > 0 && m.ops.write.latencyUs.p50 <= m.ops.write.latencyUs.p99)
    t.true(m.ops.write.latencyUs.p999 <= m.ops.write.latencyUs.max * 1.125 + 1)
    await f.close()
    t.is(io.metrics().ops.close.count, 1)
  })

  test(`${backend}: prometheus() parses back and agrees with metrics()`, async (t) => {
    const io = await openBackend(t, backend)
    const f = await io.create(path.join(tmpDir(t), 'f'))
    for (let i = 0; i < 20; i++) await f.writeAt(Buffer.alloc(512), i * 512)
    const samples = parse(io.prometheus())
    const label = `backend="${io.backend}",op="write"`
    t.is(samples.get(`streamline_io_ops_total{${label}}`), 20)
    t.is(samples.get(`streamline_io_bytes_total{${label}}`), 20 * 512)
    t.is(samples.get(`streamline_io_op_duration_seconds_count{${label}}`), 20)
    t.is(samples.get(`streamline_io_op_duration_seconds_bucket{${label},le="+Inf"}`), 20)
    // Buckets are cumulative: never decreasing in le order.
    const buckets = [...samples.entries()]
      .filter(([k]) => k.startsWith(`streamline_io_op_duration_seconds_bucket{${label},le="`) && !k.includes('+Inf'))
      .map(([k, v]) => [Number(/le="([^"]+)"/.exec(k)![1]), v] as const)
      .sort((a, b) => a[0] - b[0])
    t.true(buckets.length > 10)
    for (let i = 1; i < buckets.length; i++) t.true(buckets[i][1] >= buckets[i - 1][1], `bucket le=${buckets[i][0]}`)
    t.true(buckets[buckets.length - 1][1] <= 20)
    t.true((samples.get(`streamline_io_op_duration_seconds_sum{${label}}`) ?? -1) > 0)
    t.is(samples.get(`streamline_io_in_flight{backend="${io.backend}"}`), 0)
  })
}

for (const backend of backends) {
  // Serial: the counters are process-wide, and the two backends' runs would count each other.
  test.serial(`${backend}: a WAL recovery that truncates a torn tail is counted in metrics() and prometheus()`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const wal = await openWal(io, dir, { segmentBytes: 1 << 20 })
    for (let i = 0; i < 3; i++) await wal.append(Buffer.alloc(100, i + 1))
    await wal.close()
    // Three 100-byte records after the 4096-byte header: 16-byte frame headers, 8-byte padding.
    const file = path.join(dir, '00000000000000000001.wal')
    const end = 4096 + 3 * (16 + 104)
    const fd = fs.openSync(file, 'r+')
    fs.writeSync(fd, Buffer.alloc(40, 0xab), 0, 40, end)
    fs.closeSync(fd)
    const before = io.metrics().wal
    const again = await openWal(io, dir, { segmentBytes: 1 << 20 })
    t.not(again.recovery.reason, null)
    t.true(again.recovery.truncatedBytes >= 40, JSON.stringify(again.recovery))
    t.is(again.lastLsn, 3)
    const after = io.metrics().wal
    t.is(after.recoveries, before.recoveries + 1)
    t.is(after.truncatedBytes, before.truncatedBytes + again.recovery.truncatedBytes)
    t.regex(io.prometheus(), new RegExp(`^streamline_wal_recoveries_total ${after.recoveries}$`, 'm'))
    await again.close()
  })
}
