// Produce (0), versions 3–8 (ProduceRequest/Response.json; v3 is the first that carries
// RecordBatch v2, v9+ is flexible and not offered). Each partition's record set is stored
// as the producer sent it (`appendBatch`: one or more whole batches, offsets assigned by
// the log). The logs sync 'always', so acks 1 and −1 are both answered once the batch is
// durable (a single node has no other replicas to wait for); acks 0 gets no response at
// all, as Kafka does. A topic that does not exist is auto-created.
import { ApiKey } from '../protocol/api-keys'
import { ErrorCode } from '../protocol/error-codes'
import type { Reader } from '../protocol/types'
import { BufferWriter } from '../protocol/writer'
import { TopicNameError } from '../storage/topic-names'
import type { ApiResponse, ApiSpec, BrokerServices, RequestContext } from './api'

/** RecordBatch: the magic byte follows baseOffset (8), batchLength (4), partitionLeaderEpoch (4). */
const MAGIC_OFFSET = 16
const FIRST_V2_MAGIC = 2

interface PartitionData {
  readonly index: number
  readonly records: Buffer | null
}
interface TopicData {
  readonly name: string
  readonly partitions: PartitionData[]
}

interface PartitionResult {
  readonly index: number
  readonly errorCode: number
  readonly baseOffset: number
  readonly logStartOffset: number
  readonly errorMessage: string | null
}
interface TopicResult {
  readonly name: string
  readonly partitions: PartitionResult[]
}

function decode(r: Reader): { acks: number; topics: TopicData[] } {
  r.nullableString() // transactional id: transactions are not supported, the batches are stored as sent
  const acks = r.int16()
  r.int32() // timeout: appends are not abandoned half way
  const topics = r.array((tr) => ({
    name: tr.string(),
    partitions: tr.array((pr) => ({ index: pr.int32(), records: pr.nullableBytes() })),
  }))
  return { acks, topics }
}

function failed(index: number, errorCode: number, errorMessage: string): PartitionResult {
  return { index, errorCode, baseOffset: -1, logStartOffset: -1, errorMessage }
}

/** The wire error for an appendBatch rejection (DESIGN.md §3 error table). */
function appendErrorCode(err: { code?: unknown }): number {
  switch (err.code) {
    case 'ERR_INVALID_RECORD_BATCH':
    case 'ERR_UNSUPPORTED_COMPRESSION':
      return ErrorCode.CORRUPT_MESSAGE
    case 'ERR_RECORD_TOO_LARGE':
      return ErrorCode.MESSAGE_TOO_LARGE
    default:
      return ErrorCode.KAFKA_STORAGE_ERROR
  }
}

async function producePartition(services: BrokerServices, topic: string, partitions: number, p: PartitionData): Promise<PartitionResult> {
  const log = p.index >= 0 && p.index < partitions ? services.topics.log(topic, p.index) : null
  if (log === null) return failed(p.index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${topic} has no partition ${p.index}`)
  if (p.records === null || p.records.length === 0) return failed(p.index, ErrorCode.CORRUPT_MESSAGE, 'the record set is empty')
  if (p.records.length > MAGIC_OFFSET && p.records[MAGIC_OFFSET] < FIRST_V2_MAGIC) {
    return failed(p.index, ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, `magic ${p.records[MAGIC_OFFSET]}: only RecordBatch v2 is stored`)
  }
  try {
    const { baseOffset } = await log.appendBatch(p.records)
    return { index: p.index, errorCode: ErrorCode.NONE, baseOffset, logStartOffset: log.logStartOffset, errorMessage: null }
  } catch (err) {
    const code = appendErrorCode(err as { code?: unknown })
    const message = (err as Error).message
    if (code === ErrorCode.KAFKA_STORAGE_ERROR) services.logger(`produce: append to ${topic}-${p.index} failed: ${message}`)
    return failed(p.index, code, message)
  }
}

async function produceTopic(services: BrokerServices, acksValid: boolean, t: TopicData): Promise<TopicResult> {
  const all = (code: number, message: string): TopicResult => ({ name: t.name, partitions: t.partitions.map((p) => failed(p.index, code, message)) })
  if (!acksValid) return all(ErrorCode.INVALID_REQUIRED_ACKS, 'acks must be 0, 1 or -1')
  let partitions: number
  try {
    partitions = await services.topics.ensure(t.name)
  } catch (err) {
    if (err instanceof TopicNameError) return all(ErrorCode.INVALID_TOPIC_EXCEPTION, err.message)
    services.logger(`produce: creating topic ${t.name} failed: ${(err as Error).message}`)
    return all(ErrorCode.KAFKA_STORAGE_ERROR, (err as Error).message)
  }
  // Partitions append concurrently: their fdatasyncs overlap rather than queue.
  return { name: t.name, partitions: await Promise.all(t.partitions.map((p) => producePartition(services, t.name, partitions, p))) }
}

function encode(version: number, results: readonly TopicResult[]): Buffer {
  const w = new BufferWriter(64 + results.length * 64)
  w.array(results, (tw, t) => {
    tw.string(t.name)
    tw.array(t.partitions, (pw, p) => {
      pw.int32(p.index).int16(p.errorCode).int64(p.baseOffset)
      pw.int64(-1) // log append time: CreateTime topics (v2+)
      if (version >= 5) pw.int64(p.logStartOffset)
      if (version >= 8) {
        pw.array([] as number[], (ew, i) => ew.int32(i)) // record errors: a batch is taken or refused whole
        pw.nullableString(p.errorMessage)
      }
    })
  })
  w.int32(0) // throttle time
  return w.finish()
}

export const produceSpec: ApiSpec = {
  key: ApiKey.Produce,
  name: 'Produce',
  minVersion: 3,
  maxVersion: 8,
  flexibleFrom: null,
  async handle(ctx: RequestContext, request: Reader): Promise<ApiResponse> {
    const { acks, topics } = decode(request)
    const acksValid = acks === 0 || acks === 1 || acks === -1
    const results = await Promise.all(topics.map((t) => produceTopic(ctx.services, acksValid, t)))
    if (acks === 0) {
      // No response at all; a refusal is only logged (Kafka closes the connection instead,
      // which clients read as "refresh metadata" — nothing to refresh on one node).
      for (const t of results) for (const p of t.partitions) if (p.errorCode !== ErrorCode.NONE) ctx.services.logger(`produce (acks 0): ${t.name}-${p.index} refused: ${p.errorMessage}`)
      return { kind: 'none' }
    }
    return { kind: 'body', body: encode(ctx.apiVersion, results) }
  },
}
