// io.metrics() and io.prometheus(): the same names and meaning on both backends, and
// an exposition a Prometheus parser takes as it is.
import path from 'node:path'
import test from 'ava'

import fs from 'node:fs'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { openWal } from '../ts/index'
import { Histogram, OP_KINDS } from '../ts/metrics'
import { backends, openBackend, tmpDir } from './helpers/backends'
import { parseExposition, valueOf } from './helpers/prometheus'

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

  test(`${backend}: prometheus() parses back strictly and agrees with metrics()`, async (t) => {
    const io = await openBackend(t, backend)
    const dir = tmpDir(t)
    const f = await io.create(path.join(dir, 'f'))
    for (let i = 0; i < 20; i++) await f.writeAt(Buffer.alloc(512), i * 512)
    await f.readAt(Buffer.alloc(4096), 0)
    await f.syncData()
    await f.syncAll()
    await f.allocate(16384)
    await io.batch().readAt(f, Buffer.alloc(512), 0).readAt(f, Buffer.alloc(512), 512).readAt(f, Buffer.alloc(512), 1024).submit()
    await io.open(path.join(dir, 'missing')).catch(() => {})
    const m = io.metrics()
    const families = parseExposition(io.prometheus())
    const b = { backend: io.backend }
    // Every operation kind of the issue has its histogram, count, bytes and errors, and they
    // say what metrics() says.
    for (const op of ['read', 'write', 'fsync', 'fdatasync', 'fallocate', 'open', 'close'] as const) {
      t.true((OP_KINDS as readonly string[]).includes(op), op)
      const l = { ...b, op }
      t.is(valueOf(families, 'streamline_io_ops_total', l), m.ops[op].count, `${op} count`)
      t.is(valueOf(families, 'streamline_io_errors_total', l), m.ops[op].errors, `${op} errors`)
      t.is(valueOf(families, 'streamline_io_bytes_total', l), m.ops[op].bytes, `${op} bytes`)
      t.is(valueOf(families, 'streamline_io_op_duration_seconds_count', l), m.ops[op].count, `${op} histogram count`)
      t.is(valueOf(families, 'streamline_io_op_duration_seconds_bucket', { ...l, le: '+Inf' }), m.ops[op].count, `${op} +Inf bucket`)
      t.not(valueOf(families, 'streamline_io_op_duration_seconds_sum', l), undefined, `${op} sum`)
    }
    t.is(m.ops.write.count, 20)
    t.is(valueOf(families, 'streamline_io_bytes_total', { ...b, op: 'write' }), 20 * 512)
    t.is(m.ops.read.count, 4)
    t.is(m.ops.open.errors, 1)
    t.true((valueOf(families, 'streamline_io_op_duration_seconds_sum', { ...b, op: 'write' }) ?? -1) > 0)
    // Buckets are at powers of two of a microsecond, every one of them present.
    const le = families.get('streamline_io_op_duration_seconds')!.samples.filter((s) => s.name.endsWith('_bucket') && s.labels.op === 'write').map((s) => s.labels.le)
    t.is(le[0], '0.000001')
    t.is(le[le.length - 1], '+Inf')
    t.true(le.length > 20)
    const types: Record<string, string> = {
      streamline_io_op_duration_seconds: 'histogram',
      streamline_io_ops_total: 'counter',
      streamline_io_errors_total: 'counter',
      streamline_io_bytes_total: 'counter',
      streamline_io_in_flight: 'gauge',
      streamline_io_queued: 'gauge',
      streamline_io_fallbacks_total: 'counter',
      streamline_io_registered_buffer_hits_total: 'counter',
      streamline_io_batches_total: 'counter',
      streamline_io_batch_operations_total: 'counter',
      streamline_io_batch_size_average: 'gauge',
      // sendTo's families (sendto.spec.ts checks their values).
      streamline_io_sendto_bytes_total: 'counter',
      streamline_io_sendto_prefix_bytes_total: 'counter',
      streamline_io_sendto_fallbacks_total: 'counter',
      streamline_io_sendto_writable_waits_total: 'counter',
      streamline_io_sendto_in_flight: 'gauge',
      streamline_wal_recoveries_total: 'counter',
      streamline_wal_truncated_bytes_total: 'counter',
      streamline_log_appends_total: 'counter',
      streamline_log_batches_total: 'counter',
      streamline_log_records_total: 'counter',
      streamline_log_bytes_total: 'counter',
      streamline_log_recoveries_total: 'counter',
      streamline_log_truncated_bytes_total: 'counter',
      streamline_log_retention_deleted_segments_total: 'counter',
      streamline_log_open_segment_files: 'gauge',
    }
    for (const [name, type] of Object.entries(types)) {
      t.is<string | undefined, string | undefined>(families.get(name)?.type, type, name)
      t.truthy(families.get(name)?.help, `${name} has HELP`)
    }
    t.deepEqual([...families.keys()].sort(), Object.keys(types).sort(), 'no family untested')
    t.is(valueOf(families, 'streamline_io_in_flight', b), m.inFlight)
    // The process-wide log families carry no labels and agree with metrics().log.
    t.is(valueOf(families, 'streamline_log_appends_total'), m.log.appends)
    t.is(valueOf(families, 'streamline_log_batches_total'), m.log.batches)
    t.is(valueOf(families, 'streamline_log_records_total'), m.log.records)
    t.is(valueOf(families, 'streamline_log_bytes_total'), m.log.bytes)
    t.is(valueOf(families, 'streamline_log_recoveries_total'), m.log.recoveries)
    t.is(valueOf(families, 'streamline_log_truncated_bytes_total'), m.log.truncatedBytes)
    t.is(valueOf(families, 'streamline_log_retention_deleted_segments_total'), m.log.retentionDeletions)
    t.is(valueOf(families, 'streamline_log_open_segment_files'), m.log.openSegmentFiles)
    t.is(valueOf(families, 'streamline_io_queued', b), m.queued)
    t.is(valueOf(families, 'streamline_io_fallbacks_total', b), m.fallbacks)
    t.is(valueOf(families, 'streamline_io_registered_buffer_hits_total', b), m.registeredBufferHits)
    t.is(valueOf(families, 'streamline_io_batches_total', b), 1)
    t.is(valueOf(families, 'streamline_io_batch_operations_total', b), 3)
    t.is(valueOf(families, 'streamline_io_batch_size_average', b), 3)
    t.is(m.averageBatchSize, 3)
    for (const p of ['p50', 'p90', 'p99', 'p999'] as const) t.true(m.ops.write.latencyUs[p] > 0, p)

    // A second, independent parser reads the same names, types and (non-histogram) values.
    // (parse-prometheus-text-format folds a histogram's labelled series into one, so
    // histograms are checked by parseExposition only.)
    const other = parsePrometheusTextFormat(io.prometheus())
    t.deepEqual(other.map((x) => x.name).sort(), [...families.keys()].sort())
    for (const fam of other) {
      t.is(fam.type.toLowerCase(), families.get(fam.name)!.type, fam.name)
      t.is<string | null, string | null>(fam.help, families.get(fam.name)!.help, fam.name)
      if (fam.type === 'HISTOGRAM') continue
      for (const s of fam.metrics) t.is<number | undefined, number | undefined>(Number(s.value), valueOf(families, fam.name, s.labels ?? {}), `${fam.name} ${JSON.stringify(s.labels)}`)
    }
    await f.close()
  })
}

test('parseExposition rejects what a Prometheus server would not take', (t) => {
  const good = '# HELP x_total Things.\n# TYPE x_total counter\nx_total{a="1"} 3\n# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.5\nh_count 2\n'
  t.notThrows(() => parseExposition(good))
  const bad: Array<[string, RegExp]> = [
    ['x_total 1\n', /before \(or without\) its TYPE/],
    ['# TYPE x_total counter\nx_total 1', /newline/],
    ['# TYPE x_total counter\nx_total{a="1",a="2"} 1\n', /label a twice/],
    ['# TYPE x_total counter\nx_total{a="1"} 1\nx_total{a="1"} 2\n', /duplicate series/],
    ['# TYPE x_total counter\nx_total -1\n', /counter value/],
    ['# TYPE x_total counter\nx_total{1a="1"} 1\n', /bad label name/],
    ['# TYPE x_total counter\nx_total{a="\\q"} 1\n', /bad escape/],
    ['# TYPE x_total counter\nx_total one\n', /not a float/],
    ['# TYPE 9x counter\n', /bad metric name/],
    ['# TYPE x_total counter\n# TYPE x_total gauge\n', /second TYPE/],
    ['# TYPE x_total counter\n# TYPE y gauge\ny 1\nx_total 1\n', /resumes after another family/],
    ['# TYPE h histogram\nh_bucket{le="0.1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', /not cumulative/],
    ['# TYPE h histogram\nh_bucket{le="0.2"} 1\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', /does not increase/],
    ['# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_sum 1\nh_count 1\n', /no le="\+Inf" bucket/],
    ['# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n', /!= _count/],
    ['# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 2\n', /no _sum/],
    ['# TYPE h histogram\nh 2\n', /h in histogram h/],
  ]
  for (const [text, message] of bad) t.throws(() => parseExposition(text), { message }, JSON.stringify(text))
})

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
