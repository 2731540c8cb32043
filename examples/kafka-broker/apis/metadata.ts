// Metadata (3), versions 0–8 (MetadataRequest/Response.json; v9+ is flexible and not
// offered). This broker is the only node, the controller, and every partition's leader
// with leader epoch −1 (clients then skip OffsetForLeaderEpoch validation). Requested
// topics that do not exist are created when auto-creation is allowed (always before v4,
// AllowAutoTopicCreation from v4), as Kafka's auto.create.topics.enable=true does.
import { ApiKey } from '../protocol/api-keys'
import { ErrorCode } from '../protocol/error-codes'
import type { Reader } from '../protocol/types'
import { BufferWriter } from '../protocol/writer'
import { TopicNameError } from '../storage/topic-names'
import type { ApiResponse, ApiSpec, BrokerServices, RequestContext } from './api'

/** The cluster id reported from v2 (a single node: a fixed, readable one). */
export const CLUSTER_ID = 'streamline-io-broker'
/** "Not supplied" for authorized-operations bitfields (v8). */
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648

interface MetadataRequest {
  /** null = every topic. */
  readonly topics: string[] | null
  readonly allowAutoTopicCreation: boolean
}

function decode(r: Reader, version: number): MetadataRequest {
  // The topic list's null is meaningful (v1+: all topics), so its count is read here
  // rather than through Reader.array, which reads null as empty.
  const count = r.int32()
  let topics: string[] | null = null
  if (count >= 0) {
    topics = []
    for (let i = 0; i < count; i++) topics.push(r.string())
  }
  // v0 has no null: an empty list asks for every topic.
  if (version === 0 && topics !== null && topics.length === 0) topics = null
  const allowAutoTopicCreation = version >= 4 ? r.boolean() : true
  if (version >= 8) {
    r.boolean() // IncludeClusterAuthorizedOperations
    r.boolean() // IncludeTopicAuthorizedOperations
  }
  return { topics, allowAutoTopicCreation }
}

interface TopicAnswer {
  readonly errorCode: number
  readonly name: string
  readonly partitions: number
}

async function answerFor(services: BrokerServices, name: string, allowCreate: boolean): Promise<TopicAnswer> {
  const existing = services.topics.partitions(name)
  if (existing !== null) return { errorCode: ErrorCode.NONE, name, partitions: existing }
  if (!allowCreate) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, partitions: 0 }
  try {
    return { errorCode: ErrorCode.NONE, name, partitions: await services.topics.ensure(name) }
  } catch (err) {
    if (err instanceof TopicNameError) return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, name, partitions: 0 }
    services.logger(`metadata: creating topic ${name} failed: ${(err as Error).message}`)
    return { errorCode: ErrorCode.LEADER_NOT_AVAILABLE, name, partitions: 0 }
  }
}

function encode(services: BrokerServices, version: number, topics: readonly TopicAnswer[]): Buffer {
  const w = new BufferWriter(256 + topics.length * 64)
  if (version >= 3) w.int32(0) // throttle time
  w.array([services.nodeId], (bw, nodeId) => {
    bw.int32(nodeId).string(services.advertisedHost).int32(services.advertisedPort)
    if (version >= 1) bw.nullableString(null) // rack
  })
  if (version >= 2) w.nullableString(CLUSTER_ID)
  if (version >= 1) w.int32(services.nodeId) // controller
  w.array(topics, (tw, topic) => {
    tw.int16(topic.errorCode).string(topic.name)
    if (version >= 1) tw.boolean(false) // internal
    const partitions = Array.from({ length: topic.partitions }, (_, i) => i)
    tw.array(partitions, (pw, index) => {
      pw.int16(ErrorCode.NONE).int32(index).int32(services.nodeId)
      if (version >= 7) pw.int32(-1) // leader epoch
      pw.array([services.nodeId], (rw, id) => rw.int32(id)) // replicas
      pw.array([services.nodeId], (rw, id) => rw.int32(id)) // in-sync replicas
      if (version >= 5) pw.array([] as number[], (rw, id) => rw.int32(id)) // offline replicas
    })
    if (version >= 8) tw.int32(AUTHORIZED_OPERATIONS_OMITTED)
  })
  if (version >= 8) w.int32(AUTHORIZED_OPERATIONS_OMITTED)
  return w.finish()
}

export const metadataSpec: ApiSpec = {
  key: ApiKey.Metadata,
  name: 'Metadata',
  minVersion: 0,
  maxVersion: 8,
  flexibleFrom: null,
  async handle(ctx: RequestContext, request: Reader): Promise<ApiResponse> {
    const req = decode(request, ctx.apiVersion)
    const { services } = ctx
    const answers =
      req.topics === null
        ? services.topics.list().map((t) => ({ errorCode: ErrorCode.NONE, name: t.name, partitions: t.partitions }))
        : await Promise.all([...new Set(req.topics)].map((name) => answerFor(services, name, req.allowAutoTopicCreation)))
    return { kind: 'body', body: encode(services, ctx.apiVersion, answers) }
  },
}
