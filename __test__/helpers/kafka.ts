// Apache Kafka's own DumpLogSegments, run on what the partition log wrote: the judge of
// byte compatibility that nobody here wrote (DESIGN.md §7 "Compatibility"). The jars
// come from Maven Central through scripts/kafka-tools.sh (npm test runs it first).
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

const LIB = path.resolve(__dirname, '../../../.cache/kafka-tools/lib')

export function kafkaToolsAvailable(): string | null {
  if (!fs.existsSync(LIB) || fs.readdirSync(LIB).filter((f) => f.endsWith('.jar')).length < 10) {
    return `Kafka's jars are not in ${LIB}: run 'npm run kafka-tools' (needs java and mvn)`
  }
  return null
}

/** Runs kafka.tools.DumpLogSegments with `args`; resolves stdout (stderr kept for errors). */
export function dumpLogSegments(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const missing = kafkaToolsAvailable()
  if (missing !== null) return Promise.reject(new Error(missing))
  return new Promise((resolve, reject) => {
    execFile('java', ['-cp', `${LIB}/*`, 'kafka.tools.DumpLogSegments', ...args], { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }))
      else resolve({ stdout, stderr })
    })
  })
}

/** `key: value` pairs of one DumpLogSegments line (values up to the next known key). */
function fields(line: string): Record<string, string> {
  const out: Record<string, string> = {}
  const re = /(\w+): /g
  const keys: Array<{ key: string; start: number; end: number }> = []
  let m: RegExpExecArray | null
  while ((m = re.exec(line)) !== null) keys.push({ key: m[1], start: m.index, end: re.lastIndex })
  for (let i = 0; i < keys.length; i++) {
    const stop = i + 1 < keys.length ? keys[i + 1].start : line.length
    out[keys[i].key] = line.slice(keys[i].end, stop).trim()
  }
  return out
}

export interface DumpedBatch {
  baseOffset: number
  lastOffset: number
  count: number
  position: number
  size: number
  maxTimestamp: number
  producerId: number
  producerEpoch: number
  baseSequence: number
  partitionLeaderEpoch: number
  magic: number
  codec: string
  crc: number
  isValid: boolean
  records: DumpedRecord[]
}

export interface DumpedRecord {
  offset: number
  timestamp: number
  keySize: number
  valueSize: number
  headerKeys: string[]
  key: string | null
  payload: string | null
}

/** Parses a `.log` dump (`--deep-iteration`, optionally `--print-data-log`). */
export function parseLogDump(stdout: string): DumpedBatch[] {
  const batches: DumpedBatch[] = []
  for (const line of stdout.split('\n')) {
    if (line.startsWith('baseOffset: ')) {
      const f = fields(line)
      batches.push({
        baseOffset: Number(f.baseOffset),
        lastOffset: Number(f.lastOffset),
        count: Number(f.count),
        position: Number(f.position),
        size: Number(f.size),
        maxTimestamp: Number(f.CreateTime ?? f.LogAppendTime),
        producerId: Number(f.producerId),
        producerEpoch: Number(f.producerEpoch),
        baseSequence: Number(f.baseSequence),
        partitionLeaderEpoch: Number(f.partitionLeaderEpoch),
        magic: Number(f.magic),
        codec: f.compresscodec,
        crc: Number(f.crc),
        isValid: f.isvalid === 'true',
        records: [],
      })
    } else if (line.startsWith('| offset: ')) {
      const f = fields(line.slice(2))
      const hk = (f.headerKeys ?? '[]').replace(/^\[|\]$/g, '')
      batches[batches.length - 1]?.records.push({
        offset: Number(f.offset),
        timestamp: Number(f.CreateTime ?? f.LogAppendTime),
        keySize: Number(f.keySize),
        valueSize: Number(f.valueSize),
        headerKeys: hk === '' ? [] : hk.split(','),
        key: f.key ?? null,
        payload: f.payload ?? null,
      })
    }
  }
  return batches
}

/** Parses an `.index` dump: `offset: N position: P` lines. */
export function parseIndexDump(stdout: string): Array<{ offset: number; position: number }> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('offset: '))
    .map((l) => {
      const f = fields(l)
      return { offset: Number(f.offset), position: Number(f.position) }
    })
}

/** Parses a `.timeindex` dump: `timestamp: T offset: N` lines. */
export function parseTimeIndexDump(stdout: string): Array<{ timestamp: number; offset: number }> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('timestamp: '))
    .map((l) => {
      const f = fields(l)
      return { timestamp: Number(f.timestamp), offset: Number(f.offset) }
    })
}
