// The contract between the connection loop and the API handlers: one ApiSpec per API
// (key, version range, first flexible version, handler), gathered in apis/table.ts. The
// connection decodes the request header, finds the spec, checks the version, and hands
// the rest of the frame to `handle` through a Reader; it writes the response header and
// whatever `handle` returns.
import type { Socket } from 'node:net'

import type { LogSlice, PartitionLog } from '../../../ts/index'
import type { Reader } from '../protocol/types'
import type {
  HeartbeatRequest,
  JoinGroupRequest,
  JoinGroupResult,
  LeaveGroupRequest,
  LeaveGroupResult,
  OffsetCommitRequest,
  OffsetCommitResult,
  OffsetFetchRequest,
  OffsetFetchResult,
  SyncGroupRequest,
  SyncGroupResult,
} from '../groups/types'

/** What a handler returns: nothing (Produce with acks 0), a body, or a Fetch's pieces. */
export type ApiResponse =
  | { readonly kind: 'none' }
  | { readonly kind: 'body'; readonly body: Buffer }
  /**
   * A body in pieces: encoded bytes, and record sets sent zero-copy with the log's
   * `sendTo` (each slice's `bytes` is known before anything is sent, so the frame
   * length is exact). The connection releases every slice, sent or not.
   */
  | { readonly kind: 'pieces'; readonly pieces: ReadonlyArray<Buffer | { readonly log: PartitionLog; readonly slice: LogSlice }> }

export interface RequestContext {
  readonly apiKey: number
  readonly apiVersion: number
  readonly correlationId: number
  readonly clientId: string | null
  /** Request header v2 / response header v1 (tagged fields) for this API and version. */
  readonly flexible: boolean
  readonly services: BrokerServices
  readonly socket: Socket
  /** Aborted when the connection closes or the broker shuts down (ends long polls). */
  readonly signal: AbortSignal
}

export interface ApiSpec {
  readonly key: number
  readonly name: string
  readonly minVersion: number
  readonly maxVersion: number
  /** The first flexible version, or null when every supported version is non-flexible. */
  readonly flexibleFrom: number | null
  handle(ctx: RequestContext, request: Reader): Promise<ApiResponse>
}

/** One partition log per topic-partition under --dir (storage/topics.ts). */
export interface TopicStore {
  /** Topic names and partition counts, sorted by name. */
  list(): ReadonlyArray<{ readonly name: string; readonly partitions: number }>
  /** The partition count of an existing topic, or null. */
  partitions(topic: string): number | null
  /**
   * Creates the topic with the broker's default partition count if it does not exist
   * (auto-create). Rejects with TopicNameError for a name Kafka would refuse.
   */
  ensure(topic: string): Promise<number>
  /** The log of an existing partition, or null. */
  log(topic: string, partition: number): PartitionLog | null
}

export interface BrokerServices {
  readonly nodeId: number
  /** The host and port clients are told to connect to (Metadata, FindCoordinator). */
  readonly advertisedHost: string
  readonly advertisedPort: number
  readonly topics: TopicStore
  readonly groups: GroupCoordinator
  readonly producerIds: ProducerIdManager
  readonly logger: (line: string) => void
}

/**
 * The single-node group coordinator (groups/coordinator.ts); its API handlers call it with
 * decoded requests (groups/types.ts) and encode what it returns. Every promise settles:
 * a JoinGroup or SyncGroup that waits for a rebalance is answered by the rebalance, a
 * timeout, or close() (NOT_COORDINATOR).
 */
export interface GroupCoordinator {
  joinGroup(req: JoinGroupRequest): Promise<JoinGroupResult>
  syncGroup(req: SyncGroupRequest): Promise<SyncGroupResult>
  heartbeat(req: HeartbeatRequest): Promise<{ errorCode: number }>
  leaveGroup(req: LeaveGroupRequest): Promise<LeaveGroupResult>
  /** Resolves once the accepted offsets are durable; `partitionExists` answers UNKNOWN_TOPIC_OR_PARTITION for the rest. */
  commitOffsets(req: OffsetCommitRequest, partitionExists?: (topic: string, partition: number) => boolean): Promise<OffsetCommitResult>
  fetchOffsets(req: OffsetFetchRequest): Promise<OffsetFetchResult>
  close(): Promise<void>
}

/** Producer ids for idempotent producers, durable across restarts (state/). */
export interface ProducerIdManager {
  next(transactionalId: string | null): Promise<{ producerId: number; producerEpoch: number }>
}
