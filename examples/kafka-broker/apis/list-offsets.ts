// ListOffsets (2), versions 1–5 (ListOffsetsRequest/Response.json; v0's offset arrays
// and the flexible v6+ are not offered). −2 is the earliest offset (log start), −1 the
// latest (the high watermark: what a consumer can read, = the last stable offset here),
// any other timestamp the first record at or after it (`offsetForTimestamp`), or −1/−1
// when every record is older — Kafka's answers.
import { ApiKey } from '../protocol/api-keys'
import { ErrorCode } from '../protocol/error-codes'
import type { Reader } from '../protocol/types'
import { BufferWriter } from '../protocol/writer'
import type { ApiResponse, ApiSpec, BrokerServices, RequestContext } from './api'

const LATEST = -1
const EARLIEST = -2

interface PartitionAnswer {
  readonly index: number
  readonly errorCode: number
  readonly timestamp: number
  readonly offset: number
}

function decode(r: Reader, version: number): Array<{ name: string; partitions: Array<{ index: number; timestamp: number }> }> {
  r.int32() // replica id
  if (version >= 2) r.int8() // isolation level: both levels read up to the high watermark here
  return r.array((tr) => ({
    name: tr.string(),
    partitions: tr.array((pr) => {
      const index = pr.int32()
      if (version >= 4) pr.int32() // current leader epoch
      return { index, timestamp: pr.int64() }
    }),
  }))
}

async function answer(services: BrokerServices, topic: string, index: number, timestamp: number): Promise<PartitionAnswer> {
  const log = services.topics.log(topic, index)
  if (log === null) return { index, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, timestamp: -1, offset: -1 }
  if (timestamp === EARLIEST) return { index, errorCode: ErrorCode.NONE, timestamp: -1, offset: log.logStartOffset }
  if (timestamp === LATEST) return { index, errorCode: ErrorCode.NONE, timestamp: -1, offset: log.highWatermark }
  // −3 (max timestamp, v7+) and other negatives are not timestamps in these versions.
  if (timestamp < 0) return { index, errorCode: ErrorCode.INVALID_REQUEST, timestamp: -1, offset: -1 }
  try {
    const found = await log.offsetForTimestamp(timestamp)
    return found === null ? { index, errorCode: ErrorCode.NONE, timestamp: -1, offset: -1 } : { index, errorCode: ErrorCode.NONE, ...found }
  } catch (err) {
    services.logger(`list-offsets: ${topic}-${index} at ${timestamp} failed: ${(err as Error).message}`)
    return { index, errorCode: ErrorCode.KAFKA_STORAGE_ERROR, timestamp: -1, offset: -1 }
  }
}

export const listOffsetsSpec: ApiSpec = {
  key: ApiKey.ListOffsets,
  name: 'ListOffsets',
  minVersion: 1,
  maxVersion: 5,
  flexibleFrom: null,
  async handle(ctx: RequestContext, request: Reader): Promise<ApiResponse> {
    const version = ctx.apiVersion
    const topics = decode(request, version)
    const answers = await Promise.all(topics.map(async (t) => ({ name: t.name, partitions: await Promise.all(t.partitions.map((p) => answer(ctx.services, t.name, p.index, p.timestamp))) })))
    const w = new BufferWriter(128)
    if (version >= 2) w.int32(0) // throttle time
    w.array(answers, (tw, t) => {
      tw.string(t.name)
      tw.array(t.partitions, (pw, p) => {
        pw.int32(p.index).int16(p.errorCode).int64(p.timestamp).int64(p.offset)
        if (version >= 4) pw.int32(-1) // leader epoch: Metadata reports −1 too
      })
    })
    return { kind: 'body', body: w.finish() }
  },
}
