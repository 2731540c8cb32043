// Per-operation metrics, recorded the same way on both backends: latency histograms
// (log-linear buckets), counts, bytes and errors per operation kind; gauges for work in
// flight and queued; counters for fallbacks and batches. `snapshot()` is a plain object;
// `prometheus()` is the text exposition format a Prometheus server scrapes as it is.

/** The operation kinds metrics count, by name. */
export const OP_KINDS = ['read', 'write', 'fsync', 'fdatasync', 'fallocate', 'ftruncate', 'fstat', 'open', 'close', 'sendto'] as const
/** One of OP_KINDS. */
export type MetricOp = (typeof OP_KINDS)[number]

/** Linear sub-buckets per power of two: relative error of a percentile ≤ 1/8. */
const SUB_BUCKETS = 8
/** Powers of two covered above 1 µs: up to 2^27 µs ≈ 134 s; slower lands in the last bucket. */
const OCTAVES = 27
const BUCKETS = 1 + OCTAVES * SUB_BUCKETS

/** A log-linear latency histogram in microseconds (HDR-style, fixed memory). */
export class Histogram {
  readonly counts = new Float64Array(BUCKETS)
  count = 0
  sumUs = 0

  record(us: number): void {
    this.counts[bucketOf(us)]++
    this.count++
    this.sumUs += us
  }

  /** The value at percentile p (0–100): the upper bound of the bucket holding it. */
  percentile(p: number): number {
    if (this.count === 0) return 0
    const rank = Math.max(1, Math.ceil((p / 100) * this.count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]
      if (seen >= rank) return upperBoundUs(i)
    }
    return upperBoundUs(BUCKETS - 1)
  }

  /** Observations at or below 2^e µs, for each e in 0..OCTAVES (cumulative, exact: bucket edges align). */
  cumulativeAtPowersOfTwo(): number[] {
    const out: number[] = []
    let seen = this.counts[0]
    for (let e = 0; e < OCTAVES; e++) {
      out.push(seen) // ≤ 2^e µs
      for (let s = 0; s < SUB_BUCKETS; s++) seen += this.counts[1 + e * SUB_BUCKETS + s]
    }
    out.push(seen)
    return out
  }
}

function bucketOf(us: number): number {
  if (!(us >= 1)) return 0 // below 1 µs, and NaN, land in the first bucket
  // Integer arithmetic on the hot path (clz32 instead of log2): the octave is the top
  // bit of the whole microseconds, the sub-bucket the next three bits below it.
  const whole = us >= 2 ** OCTAVES ? 2 ** OCTAVES - 1 : us >>> 0
  const e = 31 - Math.clz32(whole)
  const sub = e >= 3 ? (whole >>> (e - 3)) & 7 : Math.min(SUB_BUCKETS - 1, Math.floor(((us - (1 << e)) / (1 << e)) * SUB_BUCKETS))
  return 1 + e * SUB_BUCKETS + sub
}

function upperBoundUs(bucket: number): number {
  if (bucket === 0) return 1
  const e = Math.floor((bucket - 1) / SUB_BUCKETS)
  const sub = (bucket - 1) % SUB_BUCKETS
  return 2 ** e * (1 + (sub + 1) / SUB_BUCKETS)
}

/**
 * Events of the storage structures built on an Io (the WAL's recovery), counted per
 * process: a WAL is handed an Io that may be a caller's wrapper, so these live here
 * rather than on one Io, and every Io's snapshot reports them.
 */
export const storageEvents = {
  /** WAL opens whose recovery truncated a torn tail or removed an unfinished roll. */
  walRecoveries: 0,
  /** Bytes of torn tail those recoveries zeroed. */
  walTruncatedBytes: 0,
  /** Partition logs: append()/appendBatch() calls written, their batches, records and bytes. */
  logAppends: 0,
  logBatches: 0,
  logRecords: 0,
  logBytes: 0,
  /** Log opens whose recovery cut a torn tail or rebuilt an index, and the bytes cut. */
  logRecoveries: 0,
  logTruncatedBytes: 0,
  /** Segments deleted by retention. */
  logRetentionDeletions: 0,
  /** Segment files (.log) open now, across every log in the process. */
  logOpenSegmentFiles: 0,
}

/** One operation kind's counters. */
export interface OpMetrics {
  /** Operations completed (errors included). */
  count: number
  /** Operations that failed. */
  errors: number
  /** Bytes transferred. */
  bytes: number
  /** Latency percentiles, mean and max in microseconds (log-linear histogram). */
  latencyUs: { p50: number; p90: number; p99: number; p999: number; mean: number; max: number }
}

/** `io.metrics().sendTo`: file bytes sent to sockets, by path. */
export interface SendToMetrics {
  /** Bytes of file data by the path that carried them: splice and sendfile are zero-copy, copy passed through JavaScript. */
  bytes: { splice: number; sendfile: number; copy: number }
  /** Bytes of log.sendTo prefixes (written by socket.write; not in `bytes`). */
  prefixBytes: number
  /**
   * Why a piece did not take the backend's own path: no descriptor (TLS, in-process
   * duplexes; copy), no addon helpers (copy), rings without splice (sendfile), a ring
   * that failed (sendfile).
   */
  fallbacks: { noDescriptor: number; noAddon: number; noSplice: number; ringFailed: number }
  /** Times a zero-copy transfer waited for the reader (uv_poll on standard, POLL_ADD on io_uring). */
  writableWaits: number
  /** sendTo units running or queued. */
  inFlight: number
}

/** `io.metrics()`: a plain snapshot, the same names on both backends. */
export interface IoMetrics {
  /** The Io's backend. */
  backend: 'io_uring' | 'standard'
  /** Per operation kind. */
  ops: Record<MetricOp, OpMetrics>
  /** Operations submitted and not completed. */
  inFlight: number
  /** Operations waiting for a slot (over `queueDepth`). */
  queued: number
  /** Operations re-run on the node:fs path because a ring failed. */
  fallbacks: number
  /** Reads/writes that used a registered buffer (READ_FIXED/WRITE_FIXED). */
  registeredBufferHits: number
  /** sendTo: bytes per path, prefixes, fallbacks, waits for the reader. */
  sendTo: SendToMetrics
  /** `io.batch()` submissions. */
  batches: number
  /** Operations in those batches. */
  batchOperations: number
  /** batchOperations / batches (0 before the first). */
  averageBatchSize: number
  /** Process-wide: WAL recoveries that truncated something, and the bytes they zeroed. */
  wal: { recoveries: number; truncatedBytes: number }
  /** Process-wide: partition logs (appends, batches, records, bytes written; recoveries; retention; open segment files). */
  log: {
    appends: number
    batches: number
    records: number
    bytes: number
    recoveries: number
    truncatedBytes: number
    retentionDeletions: number
    openSegmentFiles: number
  }
}

class OpStats {
  readonly latency = new Histogram()
  errors = 0
  bytes = 0
  maxUs = 0
}

/** What the metrics read from their Io when a snapshot is taken. */
export interface MetricsSource {
  readonly backend: 'io_uring' | 'standard'
  readonly inFlight: number
  readonly queued: number
  readonly fallbacks: number
  readonly registeredBufferHits: number
  /** sendTo's counters (and the backend's waits, and units in flight); zeros when absent. */
  readonly sendTo?: SendToMetrics
}

function noSends(): SendToMetrics {
  return { bytes: { splice: 0, sendfile: 0, copy: 0 }, prefixBytes: 0, fallbacks: { noDescriptor: 0, noAddon: 0, noSplice: 0, ringFailed: 0 }, writableWaits: 0, inFlight: 0 }
}

export class Metrics {
  private readonly ops = Object.fromEntries(OP_KINDS.map((k) => [k, new OpStats()])) as Record<MetricOp, OpStats>
  batches = 0
  batchOperations = 0

  constructor(private readonly source: MetricsSource) {}

  /** Records one finished operation; `startMs` from performance.now(). */
  record(op: MetricOp, startMs: number, bytes: number, failed: boolean): void {
    const us = (performance.now() - startMs) * 1000
    const s = this.ops[op]
    s.latency.record(us)
    if (us > s.maxUs) s.maxUs = us
    if (failed) s.errors++
    else s.bytes += bytes
  }

  recordBatch(size: number): void {
    this.batches++
    this.batchOperations += size
  }

  snapshot(): IoMetrics {
    const ops = {} as Record<MetricOp, OpMetrics>
    for (const [kind, s] of Object.entries(this.ops) as Array<[MetricOp, OpStats]>) {
      const h = s.latency
      ops[kind] = {
        count: h.count,
        errors: s.errors,
        bytes: s.bytes,
        latencyUs: {
          p50: h.percentile(50),
          p90: h.percentile(90),
          p99: h.percentile(99),
          p999: h.percentile(99.9),
          mean: h.count === 0 ? 0 : h.sumUs / h.count,
          max: s.maxUs,
        },
      }
    }
    const src = this.source
    return {
      backend: src.backend,
      ops,
      inFlight: src.inFlight,
      queued: src.queued,
      fallbacks: src.fallbacks,
      registeredBufferHits: src.registeredBufferHits,
      sendTo: src.sendTo ?? noSends(),
      batches: this.batches,
      batchOperations: this.batchOperations,
      averageBatchSize: this.batches === 0 ? 0 : this.batchOperations / this.batches,
      wal: { recoveries: storageEvents.walRecoveries, truncatedBytes: storageEvents.walTruncatedBytes },
      log: {
        appends: storageEvents.logAppends,
        batches: storageEvents.logBatches,
        records: storageEvents.logRecords,
        bytes: storageEvents.logBytes,
        recoveries: storageEvents.logRecoveries,
        truncatedBytes: storageEvents.logTruncatedBytes,
        retentionDeletions: storageEvents.logRetentionDeletions,
        openSegmentFiles: storageEvents.logOpenSegmentFiles,
      },
    }
  }

  /** Prometheus text exposition format 0.0.4. */
  prometheus(): string {
    const src = this.source
    const backend = `backend="${src.backend}"`
    const lines: string[] = []
    const family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    }
    family('streamline_io_op_duration_seconds', 'histogram', 'Time from start to completion of an I/O operation, by operation kind.')
    for (const [kind, s] of Object.entries(this.ops) as Array<[MetricOp, OpStats]>) {
      const labels = `${backend},op="${kind}"`
      const cumulative = s.latency.cumulativeAtPowersOfTwo()
      cumulative.forEach((n, e) => lines.push(`streamline_io_op_duration_seconds_bucket{${labels},le="${formatSeconds(2 ** e)}"} ${n}`))
      lines.push(`streamline_io_op_duration_seconds_bucket{${labels},le="+Inf"} ${s.latency.count}`)
      lines.push(`streamline_io_op_duration_seconds_sum{${labels}} ${s.latency.sumUs / 1e6}`)
      lines.push(`streamline_io_op_duration_seconds_count{${labels}} ${s.latency.count}`)
    }
    const perOp = (name: string, help: string, value: (s: OpStats) => number) => {
      family(name, 'counter', help)
      for (const [kind, s] of Object.entries(this.ops) as Array<[MetricOp, OpStats]>) lines.push(`${name}{${backend},op="${kind}"} ${value(s)}`)
    }
    perOp('streamline_io_ops_total', 'I/O operations completed, by kind.', (s) => s.latency.count)
    perOp('streamline_io_errors_total', 'I/O operations that failed, by kind.', (s) => s.errors)
    perOp('streamline_io_bytes_total', 'Bytes read or written by successful operations, by kind.', (s) => s.bytes)
    const single = (name: string, type: 'counter' | 'gauge', help: string, value: number) => {
      family(name, type, help)
      lines.push(`${name}{${backend}} ${value}`)
    }
    single('streamline_io_in_flight', 'gauge', 'Operations started and not yet completed.', src.inFlight)
    single('streamline_io_queued', 'gauge', 'Operations waiting for a queueDepth slot.', src.queued)
    single('streamline_io_fallbacks_total', 'counter', 'Operations re-run on the node:fs path because a ring failed.', src.fallbacks)
    single('streamline_io_registered_buffer_hits_total', 'counter', 'Reads and writes that used a registered buffer.', src.registeredBufferHits)
    const st = src.sendTo ?? noSends()
    family('streamline_io_sendto_bytes_total', 'counter', 'Bytes of file data sent to sockets by sendTo, by path: splice and sendfile are zero-copy, copy passed through JavaScript.')
    for (const path of ['splice', 'sendfile', 'copy'] as const) lines.push(`streamline_io_sendto_bytes_total{${backend},path="${path}"} ${st.bytes[path]}`)
    single('streamline_io_sendto_prefix_bytes_total', 'counter', 'Bytes of log.sendTo prefixes written to sockets.', st.prefixBytes)
    family('streamline_io_sendto_fallbacks_total', 'counter', "sendTo pieces that did not take the backend's zero-copy path, by reason.")
    const reasons = [['no_descriptor', st.fallbacks.noDescriptor], ['no_addon', st.fallbacks.noAddon], ['no_splice', st.fallbacks.noSplice], ['ring_failed', st.fallbacks.ringFailed]] as const
    for (const [reason, n] of reasons) lines.push(`streamline_io_sendto_fallbacks_total{${backend},reason="${reason}"} ${n}`)
    single('streamline_io_sendto_writable_waits_total', 'counter', 'Times a zero-copy sendTo waited for the socket to become writable.', st.writableWaits)
    single('streamline_io_sendto_in_flight', 'gauge', 'sendTo calls running or queued.', st.inFlight)
    single('streamline_io_batches_total', 'counter', 'Batches submitted with io.batch().', this.batches)
    single('streamline_io_batch_operations_total', 'counter', 'Operations submitted in batches (divide by batches for the average size).', this.batchOperations)
    single('streamline_io_batch_size_average', 'gauge', 'Average operations per batch since the Io opened (batch_operations_total / batches_total; 0 before the first batch).', this.batches === 0 ? 0 : this.batchOperations / this.batches)
    family('streamline_wal_recoveries_total', 'counter', 'WAL opens (in this process) whose recovery truncated a torn tail or removed an unfinished roll.')
    lines.push(`streamline_wal_recoveries_total ${storageEvents.walRecoveries}`)
    family('streamline_wal_truncated_bytes_total', 'counter', 'Bytes of torn WAL tail zeroed by recovery (in this process).')
    lines.push(`streamline_wal_truncated_bytes_total ${storageEvents.walTruncatedBytes}`)
    const processWide = (name: string, type: 'counter' | 'gauge', help: string, value: number) => {
      family(name, type, help)
      lines.push(`${name} ${value}`)
    }
    processWide('streamline_log_appends_total', 'counter', 'Partition-log appends (append and appendBatch calls) written, in this process.', storageEvents.logAppends)
    processWide('streamline_log_batches_total', 'counter', 'Record batches written to partition logs, in this process.', storageEvents.logBatches)
    processWide('streamline_log_records_total', 'counter', 'Records written to partition logs, in this process.', storageEvents.logRecords)
    processWide('streamline_log_bytes_total', 'counter', 'Bytes of record batches written to partition logs, in this process.', storageEvents.logBytes)
    processWide('streamline_log_recoveries_total', 'counter', 'Partition-log opens (in this process) whose recovery cut a torn tail or rebuilt an index.', storageEvents.logRecoveries)
    processWide('streamline_log_truncated_bytes_total', 'counter', 'Bytes of torn segment tail cut by recovery (in this process).', storageEvents.logTruncatedBytes)
    processWide('streamline_log_retention_deleted_segments_total', 'counter', 'Segments deleted by retention (in this process).', storageEvents.logRetentionDeletions)
    processWide('streamline_log_open_segment_files', 'gauge', 'Segment files open now, across the partition logs of this process.', storageEvents.logOpenSegmentFiles)
    return lines.join('\n') + '\n'
  }
}

function formatSeconds(us: number): string {
  return String(us / 1e6)
}
