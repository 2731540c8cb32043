// The group coordinator's requests and results as plain objects: the API modules decode a
// request of any version into one of these and encode the result back; the coordinator
// never sees a version or a byte. Field names follow Kafka's message JSON specs.

export interface JoinGroupProtocol {
  readonly name: string
  readonly metadata: Buffer
}

export interface JoinGroupRequest {
  readonly groupId: string
  readonly sessionTimeoutMs: number
  /** v0 has none: the session timeout stands in, as Kafka does. */
  readonly rebalanceTimeoutMs: number
  /** '' on a member's first join. */
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly protocolType: string
  readonly protocols: readonly JoinGroupProtocol[]
  /** From the request header; the prefix of a new member id. */
  readonly clientId: string
  /** v4+: a first join gets MEMBER_ID_REQUIRED with its id, and joins again with it. */
  readonly requireKnownMemberId: boolean
}

export interface JoinGroupMember {
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly metadata: Buffer
}

export interface JoinGroupResult {
  readonly errorCode: number
  readonly generationId: number
  /** null only alongside an error (encoded as '' in the non-flexible versions). */
  readonly protocolName: string | null
  readonly leader: string
  readonly memberId: string
  /** Every member's metadata for the chosen protocol — for the leader only; [] for the others. */
  readonly members: readonly JoinGroupMember[]
}

export interface SyncGroupRequest {
  readonly groupId: string
  readonly generationId: number
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly assignments: ReadonlyArray<{ readonly memberId: string; readonly assignment: Buffer }>
}

export interface SyncGroupResult {
  readonly errorCode: number
  readonly assignment: Buffer
}

export interface HeartbeatRequest {
  readonly groupId: string
  readonly generationId: number
  readonly memberId: string
  readonly groupInstanceId: string | null
}

export interface LeaveGroupRequest {
  readonly groupId: string
  /** v0–2 carry one member id, v3 a list. */
  readonly members: ReadonlyArray<{ readonly memberId: string; readonly groupInstanceId: string | null }>
}

export interface LeaveGroupResult {
  /** Group-level error (v3+); v0–2 answer with the single member's error here. */
  readonly errorCode: number
  readonly members: ReadonlyArray<{ readonly memberId: string; readonly groupInstanceId: string | null; readonly errorCode: number }>
}

export interface OffsetCommitRequest {
  readonly groupId: string
  /** −1 (and v0, which has none): a commit from outside group management. */
  readonly generationId: number
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly topics: ReadonlyArray<{
    readonly name: string
    readonly partitions: ReadonlyArray<{ readonly partitionIndex: number; readonly committedOffset: number; readonly committedLeaderEpoch: number; readonly committedMetadata: string | null }>
  }>
}

export interface OffsetCommitResult {
  readonly topics: ReadonlyArray<{ readonly name: string; readonly partitions: ReadonlyArray<{ readonly partitionIndex: number; readonly errorCode: number }> }>
}

export interface OffsetFetchRequest {
  readonly groupId: string
  /** null (v2+): every partition the group has committed. */
  readonly topics: ReadonlyArray<{ readonly name: string; readonly partitionIndexes: readonly number[] }> | null
}

export interface OffsetFetchPartition {
  readonly partitionIndex: number
  /** −1 when nothing is committed. */
  readonly committedOffset: number
  readonly committedLeaderEpoch: number
  readonly metadata: string | null
  readonly errorCode: number
}

export interface OffsetFetchResult {
  /** Group-level error (v2+). */
  readonly errorCode: number
  readonly topics: ReadonlyArray<{ readonly name: string; readonly partitions: readonly OffsetFetchPartition[] }>
}

/** A group's state, for tests and logs (Kafka's ClassicGroupState names). */
export type GroupStateName = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead'
