// kafkajs (a devDependency) as an independent RecordBatch v2 encoder and decoder for the
// partition log's format tests: its producer-side batch encoder (records, GZIP codec)
// and its fetch-side batch decoder. kafkajs ships no types for these internals; the
// shapes below are the parts used here.

type KafkaLong = { toString(): string }
type KafkaEncoder = { buffer: Buffer }

const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as {
  RecordBatch(o: Record<string, unknown>): Promise<KafkaEncoder>
}
const KafkaRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (o: Record<string, unknown>) => KafkaEncoder
const { Types: Compression } = require('kafkajs/src/protocol/message/compression') as { Types: { None: number; GZIP: number } }
const Long = require('kafkajs/src/utils/long') as { fromValue(v: number): KafkaLong; fromInt(v: number): KafkaLong }
const KafkaDecoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => { offset: number }
const decodeKafkaBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (d: unknown) => Promise<KafkajsBatch>

export interface KafkajsBatch {
  firstOffset: string
  partitionLeaderEpoch: number
  producerId: string
  producerEpoch: number
  firstSequence: number
  maxTimestamp: string
  records: Array<{ offset: string; timestamp: string; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer | null | Array<Buffer | null>> }>
}

export interface ProducerRecord {
  key: Buffer | null
  value: Buffer | null
  timestamp: number
  /** kafkajs's header object: a key with one value or several (in that order). kafkajs cannot encode a null header value. */
  headers: Record<string, string | string[]>
}

export interface Producer {
  id: number
  epoch: number
  sequence: number
}

/** One RecordBatch v2 as kafkajs's producer encodes it (baseOffset 0, partitionLeaderEpoch 0). */
export async function kafkajsBatch(records: ProducerRecord[], codec: 'none' | 'gzip', producer: Producer): Promise<Buffer> {
  const base = records[0].timestamp
  const encoded = records.map((r, i) => KafkaRecord({ offsetDelta: i, timestampDelta: r.timestamp - base, key: r.key, value: r.value, headers: r.headers }))
  const batch = await RecordBatch({
    compression: codec === 'gzip' ? Compression.GZIP : Compression.None,
    firstOffset: Long.fromInt(0),
    firstTimestamp: base,
    maxTimestamp: Math.max(...records.map((r) => r.timestamp)),
    partitionLeaderEpoch: 0,
    lastOffsetDelta: records.length - 1,
    producerId: Long.fromValue(producer.id),
    producerEpoch: producer.epoch,
    firstSequence: producer.sequence,
    records: encoded,
  })
  return Buffer.from(batch.buffer)
}

/** Decodes consecutive whole batches (what a fetch returns) with kafkajs's decoder. */
export async function kafkajsDecode(bytes: Buffer): Promise<KafkajsBatch[]> {
  const decoder = new KafkaDecoder(bytes)
  const out: KafkajsBatch[] = []
  while (decoder.offset < bytes.length) out.push(await decodeKafkaBatch(decoder))
  return out
}
