// The single-node group coordinator: Kafka's classic group protocol
// (group-coordinator/…/GroupMetadataManager.java, the classicGroup* methods) for one
// broker that coordinates every group. States Empty → PreparingRebalance →
// CompletingRebalance → Stable (→ Dead on close). A rebalance completes when every known
// member has rejoined, or when the rebalance timeout passes (the laggards are removed);
// the leader gets every member's metadata, assigns in SyncGroup, and the followers' SyncGroup
// waits for it. Session timeouts remove silent members and start a rebalance.
//
// Group membership lives in memory only (offsets do not): after a broker restart members
// get UNKNOWN_MEMBER_ID and rejoin, which every client handles. Static membership
// (group.instance.id, KIP-345) is not implemented: such a member is treated as dynamic.
import { randomUUID } from 'node:crypto'

import type { GroupCoordinator } from '../apis/api'
import type { BrokerState } from '../state/store'
import { systemClock, type Clock } from './clock'
import { ErrorCode } from './error-codes'
import { EMPTY_ASSIGNMENT, Group, Member } from './group'
import type {
  GroupStateName,
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
} from './types'

/** What the coordinator needs of the durable state (state/store.ts). */
export type OffsetStore = Pick<BrokerState, 'commitOffsets' | 'committedOffset' | 'committedOffsets'>

export interface CoordinatorOptions {
  readonly clock?: Clock
  /**
   * Session timeouts outside [min, max] get INVALID_SESSION_TIMEOUT. Kafka's defaults
   * are 6 s and 30 min; the minimum here is 1 s so tests can use short sessions.
   */
  readonly minSessionTimeoutMs?: number
  readonly maxSessionTimeoutMs?: number
  /** Kafka's group.initial.rebalance.delay.ms (3 s): an empty group waits this long for more members. */
  readonly initialRebalanceDelayMs?: number
  /** How long a member that joined mid-rebalance may wait for its answer before it is dropped (Kafka: 5 min). */
  readonly newMemberJoinTimeoutMs?: number
  /** Kafka's offset.metadata.max.bytes (4096): longer commit metadata gets OFFSET_METADATA_TOO_LARGE. */
  readonly maxOffsetMetadataBytes?: number
  readonly logger?: (line: string) => void
  /** The random part of new member ids (tests pass a counter). */
  readonly newMemberSuffix?: () => string
}

/** A snapshot of one group, for tests and logs. */
export interface GroupDescription {
  readonly state: GroupStateName
  readonly generationId: number
  readonly protocolName: string | null
  readonly leaderId: string | null
  readonly members: readonly string[]
  readonly pendingMembers: readonly string[]
}

function joinError(errorCode: number, memberId = ''): JoinGroupResult {
  return { errorCode, generationId: -1, protocolName: null, leader: '', memberId, members: [] }
}

function syncError(errorCode: number): SyncGroupResult {
  return { errorCode, assignment: EMPTY_ASSIGNMENT }
}

export class Coordinator implements GroupCoordinator {
  private readonly groups = new Map<string, Group>()
  private readonly clock: Clock
  private readonly minSessionTimeoutMs: number
  private readonly maxSessionTimeoutMs: number
  private readonly initialRebalanceDelayMs: number
  private readonly newMemberJoinTimeoutMs: number
  private readonly maxOffsetMetadataBytes: number
  private readonly log: (line: string) => void
  private readonly newMemberSuffix: () => string
  private closed = false

  constructor(
    private readonly offsets: OffsetStore,
    opts: CoordinatorOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock
    this.minSessionTimeoutMs = opts.minSessionTimeoutMs ?? 1000
    this.maxSessionTimeoutMs = opts.maxSessionTimeoutMs ?? 30 * 60 * 1000
    this.initialRebalanceDelayMs = opts.initialRebalanceDelayMs ?? 3000
    this.newMemberJoinTimeoutMs = opts.newMemberJoinTimeoutMs ?? 5 * 60 * 1000
    this.maxOffsetMetadataBytes = opts.maxOffsetMetadataBytes ?? 4096
    this.log = opts.logger ?? (() => {})
    this.newMemberSuffix = opts.newMemberSuffix ?? randomUUID
  }

  describe(groupId: string): GroupDescription | null {
    const g = this.groups.get(groupId)
    if (!g) return null
    return { state: g.state, generationId: g.generationId, protocolName: g.protocolName, leaderId: g.leaderId, members: [...g.members.keys()], pendingMembers: [...g.pendingMembers.keys()] }
  }

  // ---- JoinGroup ----------------------------------------------------------------------

  joinGroup(req: JoinGroupRequest): Promise<JoinGroupResult> {
    if (this.closed) return Promise.resolve(joinError(ErrorCode.NOT_COORDINATOR, req.memberId))
    if (req.groupId === '') return Promise.resolve(joinError(ErrorCode.INVALID_GROUP_ID, req.memberId))
    if (req.sessionTimeoutMs < this.minSessionTimeoutMs || req.sessionTimeoutMs > this.maxSessionTimeoutMs) {
      return Promise.resolve(joinError(ErrorCode.INVALID_SESSION_TIMEOUT, req.memberId))
    }
    const isNewMember = req.memberId === ''
    let group = this.groups.get(req.groupId)
    if (!group) {
      // A known member id for a group this coordinator does not have (a restart): rejoin fresh.
      if (!isNewMember) return Promise.resolve(joinError(ErrorCode.UNKNOWN_MEMBER_ID, req.memberId))
      group = new Group(req.groupId)
      this.groups.set(req.groupId, group)
    }
    const g = group
    return new Promise((resolve) => (isNewMember ? this.joinNewMember(g, req, resolve) : this.joinExistingMember(g, req, resolve)))
  }

  private joinNewMember(group: Group, req: JoinGroupRequest, resolve: (r: JoinGroupResult) => void): void {
    if (group.state === 'Dead') return resolve(joinError(ErrorCode.COORDINATOR_NOT_AVAILABLE))
    if (!group.supportsProtocols(req.protocolType, req.protocols.map((p) => p.name))) return resolve(joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
    const memberId = `${req.clientId}-${this.newMemberSuffix()}`
    if (req.requireKnownMemberId) {
      // v4+: hand out the id and wait for the second JoinGroup; until it comes (or this
      // expires) a rebalance in progress waits for it too.
      group.pendingMembers.set(
        memberId,
        this.clock.schedule(req.sessionTimeoutMs, () => this.expireHeartbeat(group, memberId)),
      )
      return resolve(joinError(ErrorCode.MEMBER_ID_REQUIRED, memberId))
    }
    this.addMemberAndRebalance(group, req, memberId, resolve)
  }

  private joinExistingMember(group: Group, req: JoinGroupRequest, resolve: (r: JoinGroupResult) => void): void {
    const memberId = req.memberId
    if (group.state === 'Dead') return resolve(joinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, memberId))
    if (!group.supportsProtocols(req.protocolType, req.protocols.map((p) => p.name))) return resolve(joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, memberId))
    const pendingExpiry = group.pendingMembers.get(memberId)
    if (pendingExpiry) {
      pendingExpiry()
      group.pendingMembers.delete(memberId)
      return this.addMemberAndRebalance(group, req, memberId, resolve)
    }
    const member = group.members.get(memberId)
    if (!member) return resolve(joinError(ErrorCode.UNKNOWN_MEMBER_ID, memberId))
    switch (group.state) {
      case 'PreparingRebalance':
        return this.updateMemberAndRebalance(group, member, req, resolve)
      case 'CompletingRebalance':
        // The same offer again (its first answer was lost): the current generation's answer.
        if (member.matches(req.protocols)) return resolve(this.currentGenerationAnswer(group, member, group.leaderId === member.id))
        return this.updateMemberAndRebalance(group, member, req, resolve)
      case 'Stable':
        // The leader rejoining forces a rebalance (it may have seen a topic change); so
        // does anyone with a changed offer. Anyone else just gets the generation back.
        if (group.leaderId === member.id || !member.matches(req.protocols)) return this.updateMemberAndRebalance(group, member, req, resolve)
        return resolve(this.currentGenerationAnswer(group, member, false))
      default:
        return resolve(joinError(ErrorCode.UNKNOWN_MEMBER_ID, memberId))
    }
  }

  private currentGenerationAnswer(group: Group, member: Member, withMembers: boolean): JoinGroupResult {
    return {
      errorCode: ErrorCode.NONE,
      generationId: group.generationId,
      protocolName: group.protocolName,
      leader: group.leaderId ?? '',
      memberId: member.id,
      members: withMembers ? group.membersForLeader() : [],
    }
  }

  private addMemberAndRebalance(group: Group, req: JoinGroupRequest, memberId: string, resolve: (r: JoinGroupResult) => void): void {
    const member = new Member(memberId, req.clientId, req.groupInstanceId, req.sessionTimeoutMs, req.rebalanceTimeoutMs, req.protocolType, req.protocols)
    if (group.state === 'PreparingRebalance' && group.previousState === 'Empty') group.newMemberAdded = true
    group.add(member)
    member.joinWaiter = resolve
    // It has no id to heartbeat with yet; this only bounds how long a vanished client's
    // JoinGroup can hold a place in the rebalance.
    this.scheduleHeartbeat(group, member, this.newMemberJoinTimeoutMs)
    this.maybePrepareRebalanceOrCompleteJoin(group, `member ${memberId} joined`)
  }

  private updateMemberAndRebalance(group: Group, member: Member, req: JoinGroupRequest, resolve: (r: JoinGroupResult) => void): void {
    // A second JoinGroup while the first still waits (a client retry): the newer one
    // carries on, the older is answered so no request is left without a response.
    member.joinWaiter?.(joinError(ErrorCode.REBALANCE_IN_PROGRESS, member.id))
    member.protocols = req.protocols
    member.sessionTimeoutMs = req.sessionTimeoutMs
    member.rebalanceTimeoutMs = req.rebalanceTimeoutMs
    member.joinWaiter = resolve
    this.maybePrepareRebalanceOrCompleteJoin(group, `member ${member.id} rejoined`)
  }

  private maybePrepareRebalanceOrCompleteJoin(group: Group, reason: string): void {
    if (group.state === 'Stable' || group.state === 'CompletingRebalance' || group.state === 'Empty') this.prepareRebalance(group, reason)
    else this.maybeCompleteJoinPhase(group)
  }

  private maybeCompleteJoinPhase(group: Group): void {
    if (group.state !== 'PreparingRebalance') return
    // The initial rebalance of an empty group ends by its delay timer, not early.
    if (group.previousState === 'Empty') return
    if (group.hasAllMembersJoined()) this.completeJoin(group)
  }

  private prepareRebalance(group: Group, reason: string): void {
    if (group.state === 'CompletingRebalance') {
      // Members waiting for the assignment of a generation that will not be: rejoin.
      for (const m of group.members.values()) m.assignment = EMPTY_ASSIGNMENT
      this.propagateAssignment(group, ErrorCode.REBALANCE_IN_PROGRESS)
    }
    this.cancelSyncExpiry(group)
    const initial = group.state === 'Empty'
    group.transitionTo('PreparingRebalance')
    this.log(`group ${group.id}: preparing rebalance from generation ${group.generationId} (${reason})`)
    if (initial) {
      const delayMs = this.initialRebalanceDelayMs
      const remainingMs = Math.max(group.rebalanceTimeoutMs() - delayMs, 0)
      this.setJoinTimer(group, delayMs, () => this.tryCompleteInitialRebalance(group, delayMs, remainingMs))
    } else if (group.hasAllMembersJoined()) {
      this.completeJoin(group)
    } else {
      this.setJoinTimer(group, group.rebalanceTimeoutMs(), () => this.completeJoin(group))
    }
  }

  /** Kafka's initial delay: extended (up to the rebalance timeout) while new members keep arriving. */
  private tryCompleteInitialRebalance(group: Group, delayMs: number, remainingMs: number): void {
    if (group.newMemberAdded && remainingMs !== 0) {
      group.newMemberAdded = false
      const nextDelayMs = Math.min(this.initialRebalanceDelayMs, remainingMs)
      const nextRemainingMs = Math.max(remainingMs - delayMs, 0)
      this.setJoinTimer(group, nextDelayMs, () => this.tryCompleteInitialRebalance(group, nextDelayMs, nextRemainingMs))
    } else {
      this.completeJoin(group)
    }
  }

  private setJoinTimer(group: Group, delayMs: number, fn: () => void): void {
    group.cancelJoinTimer?.()
    group.cancelJoinTimer = this.clock.schedule(delayMs, () => {
      group.cancelJoinTimer = null
      fn()
    })
  }

  /** Ends the join phase: laggards out, next generation, every waiting JoinGroup answered. */
  private completeJoin(group: Group): void {
    group.cancelJoinTimer?.()
    group.cancelJoinTimer = null
    if (group.state !== 'PreparingRebalance') return
    for (const m of [...group.members.values()]) {
      if (!m.awaitingJoin) {
        this.log(`group ${group.id}: removing member ${m.id}, which did not rejoin within the rebalance timeout`)
        this.removeMember(group, m)
      }
    }
    // Ids handed out with MEMBER_ID_REQUIRED that have not come back stay pending (their
    // session timeout forgets them): joining later, they start the next rebalance.
    group.generationId++
    group.pendingSync.clear()
    group.newMemberAdded = false
    if (group.members.size === 0) {
      group.protocolName = null
      group.transitionTo('Empty')
      this.log(`group ${group.id}: generation ${group.generationId} is empty`)
      return
    }
    group.protocolName = group.selectProtocol()
    group.transitionTo('CompletingRebalance')
    this.log(`group ${group.id}: generation ${group.generationId} with ${group.members.size} members, protocol ${group.protocolName}, leader ${group.leaderId}`)
    for (const m of group.members.values()) {
      const answer = this.currentGenerationAnswer(group, m, m.id === group.leaderId)
      const waiter = m.joinWaiter
      m.joinWaiter = null
      waiter?.(answer)
      m.isNew = false
      this.scheduleHeartbeat(group, m, m.sessionTimeoutMs)
      group.pendingSync.add(m.id)
    }
    const generation = group.generationId
    group.cancelSyncTimer = this.clock.schedule(group.rebalanceTimeoutMs(), () => this.expirePendingSync(group, generation))
  }

  /** Members of a new generation that never sent SyncGroup: out, and rebalance without them. */
  private expirePendingSync(group: Group, generationId: number): void {
    group.cancelSyncTimer = null
    if (generationId !== group.generationId) return
    if (group.state !== 'CompletingRebalance' && group.state !== 'Stable') return
    if (group.pendingSync.size === 0) return
    const late = [...group.pendingSync]
    for (const id of late) {
      const m = group.members.get(id)
      if (m) this.removeMember(group, m)
    }
    this.log(`group ${group.id}: removed members that did not sync in time: ${late.join(', ')}`)
    this.prepareRebalance(group, 'pending sync expired')
  }

  private cancelSyncExpiry(group: Group): void {
    group.pendingSync.clear()
    group.cancelSyncTimer?.()
    group.cancelSyncTimer = null
  }

  // ---- SyncGroup ----------------------------------------------------------------------

  syncGroup(req: SyncGroupRequest): Promise<SyncGroupResult> {
    if (this.closed) return Promise.resolve(syncError(ErrorCode.NOT_COORDINATOR))
    if (req.groupId === '') return Promise.resolve(syncError(ErrorCode.INVALID_GROUP_ID))
    const group = this.groups.get(req.groupId)
    if (!group) return Promise.resolve(syncError(ErrorCode.UNKNOWN_MEMBER_ID))
    if (group.state === 'Dead') return Promise.resolve(syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE))
    const member = group.members.get(req.memberId)
    if (!member) return Promise.resolve(syncError(ErrorCode.UNKNOWN_MEMBER_ID))
    if (req.generationId !== group.generationId) return Promise.resolve(syncError(ErrorCode.ILLEGAL_GENERATION))
    switch (group.state) {
      case 'PreparingRebalance':
        return Promise.resolve(syncError(ErrorCode.REBALANCE_IN_PROGRESS))
      case 'Stable':
        this.removePendingSync(group, member.id)
        return Promise.resolve({ errorCode: ErrorCode.NONE, assignment: member.assignment })
      case 'CompletingRebalance':
        return new Promise((resolve) => {
          member.syncWaiter?.(syncError(ErrorCode.REBALANCE_IN_PROGRESS))
          member.syncWaiter = resolve
          this.removePendingSync(group, member.id)
          if (member.id === group.leaderId) {
            const given = new Map(req.assignments.map((a) => [a.memberId, a.assignment]))
            // Members the leader left out get an empty assignment, as in Kafka.
            for (const m of group.members.values()) m.assignment = given.get(m.id) ?? EMPTY_ASSIGNMENT
            group.transitionTo('Stable')
            this.propagateAssignment(group, ErrorCode.NONE)
            this.log(`group ${group.id}: generation ${group.generationId} is stable`)
          }
        })
      default:
        return Promise.resolve(syncError(ErrorCode.UNKNOWN_MEMBER_ID))
    }
  }

  private removePendingSync(group: Group, memberId: string): void {
    group.pendingSync.delete(memberId)
    if (group.pendingSync.size === 0) {
      group.cancelSyncTimer?.()
      group.cancelSyncTimer = null
    }
  }

  /** Answers every waiting SyncGroup (its assignment, or the error), and restarts its session clock. */
  private propagateAssignment(group: Group, errorCode: number): void {
    for (const m of group.members.values()) {
      const waiter = m.syncWaiter
      if (!waiter) continue
      m.syncWaiter = null
      waiter({ errorCode, assignment: errorCode === ErrorCode.NONE ? m.assignment : EMPTY_ASSIGNMENT })
      this.scheduleHeartbeat(group, m, m.sessionTimeoutMs)
    }
  }

  // ---- Heartbeat and session timeouts -------------------------------------------------

  heartbeat(req: HeartbeatRequest): Promise<{ errorCode: number }> {
    return Promise.resolve({ errorCode: this.heartbeatError(req) })
  }

  private heartbeatError(req: HeartbeatRequest): number {
    if (this.closed) return ErrorCode.NOT_COORDINATOR
    if (req.groupId === '') return ErrorCode.INVALID_GROUP_ID
    const group = this.groups.get(req.groupId)
    if (!group) return ErrorCode.UNKNOWN_MEMBER_ID
    if (group.state === 'Dead') return ErrorCode.COORDINATOR_NOT_AVAILABLE
    const member = group.members.get(req.memberId)
    if (!member) return ErrorCode.UNKNOWN_MEMBER_ID
    if (req.generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION
    switch (group.state) {
      case 'PreparingRebalance':
        this.scheduleHeartbeat(group, member, member.sessionTimeoutMs)
        return ErrorCode.REBALANCE_IN_PROGRESS
      case 'CompletingRebalance':
      case 'Stable':
        // Heartbeats may start right after the JoinGroup answer, before SyncGroup.
        this.scheduleHeartbeat(group, member, member.sessionTimeoutMs)
        return ErrorCode.NONE
      default:
        return ErrorCode.UNKNOWN_MEMBER_ID
    }
  }

  private scheduleHeartbeat(group: Group, member: Member, timeoutMs: number): void {
    member.cancelHeartbeat?.()
    member.cancelHeartbeat = this.clock.schedule(timeoutMs, () => {
      member.cancelHeartbeat = null
      // The member may have left and a namesake joined since: expire only this one.
      if (group.members.get(member.id) === member) this.expireHeartbeat(group, member.id)
    })
  }

  private expireHeartbeat(group: Group, memberId: string): void {
    if (group.state === 'Dead') return
    if (group.pendingMembers.has(memberId)) {
      group.pendingMembers.delete(memberId)
      this.log(`group ${group.id}: pending member ${memberId} never rejoined; forgotten`)
      if (group.state === 'PreparingRebalance' && group.hasAllMembersJoined()) this.completeJoin(group)
      return
    }
    const member = group.members.get(memberId)
    if (!member || member.hasSatisfiedHeartbeat) return
    this.log(`group ${group.id}: member ${memberId} missed its session timeout (${member.sessionTimeoutMs} ms); removing it`)
    this.removeMemberAndUpdateGroup(group, member)
  }

  /** Removes a member (answering anything it waits on) without touching the group's state. */
  private removeMember(group: Group, member: Member): void {
    member.cancelHeartbeat?.()
    member.cancelHeartbeat = null
    const join = member.joinWaiter
    member.joinWaiter = null
    // UNKNOWN_MEMBER_ID: a client still alive retries JoinGroup as a new member.
    join?.(joinError(ErrorCode.UNKNOWN_MEMBER_ID))
    const sync = member.syncWaiter
    member.syncWaiter = null
    sync?.(syncError(ErrorCode.UNKNOWN_MEMBER_ID))
    group.remove(member.id)
  }

  private removeMemberAndUpdateGroup(group: Group, member: Member): void {
    this.removeMember(group, member)
    if (group.state === 'Stable' || group.state === 'CompletingRebalance') this.prepareRebalance(group, `member ${member.id} removed`)
    else if (group.state === 'PreparingRebalance' && group.hasAllMembersJoined()) this.completeJoin(group)
  }

  // ---- LeaveGroup ---------------------------------------------------------------------

  leaveGroup(req: LeaveGroupRequest): Promise<LeaveGroupResult> {
    const all = (errorCode: number): LeaveGroupResult => ({ errorCode, members: req.members.map((m) => ({ ...m, errorCode })) })
    if (this.closed) return Promise.resolve(all(ErrorCode.NOT_COORDINATOR))
    if (req.groupId === '') return Promise.resolve(all(ErrorCode.INVALID_GROUP_ID))
    const group = this.groups.get(req.groupId)
    if (!group) return Promise.resolve({ errorCode: ErrorCode.NONE, members: all(ErrorCode.UNKNOWN_MEMBER_ID).members })
    if (group.state === 'Dead') return Promise.resolve(all(ErrorCode.COORDINATOR_NOT_AVAILABLE))
    let removed = 0
    const members = req.members.map((identity) => {
      const cancelPending = group.pendingMembers.get(identity.memberId)
      if (cancelPending) {
        cancelPending()
        group.pendingMembers.delete(identity.memberId)
        removed++
        return { ...identity, errorCode: ErrorCode.NONE }
      }
      const member = identity.memberId === '' ? undefined : group.members.get(identity.memberId)
      if (!member) return { ...identity, errorCode: ErrorCode.UNKNOWN_MEMBER_ID }
      this.log(`group ${group.id}: member ${member.id} left`)
      this.removeMember(group, member)
      removed++
      return { ...identity, errorCode: ErrorCode.NONE }
    })
    if (removed > 0) {
      if (group.state === 'Stable' || group.state === 'CompletingRebalance') this.prepareRebalance(group, 'members left')
      else this.maybeCompleteJoinPhase(group)
    }
    return Promise.resolve({ errorCode: ErrorCode.NONE, members })
  }

  // ---- Offsets ------------------------------------------------------------------------

  /** The group-level reason a commit is refused (Kafka's ClassicGroup.validateOffsetCommit), or NONE. */
  private commitError(req: OffsetCommitRequest): number {
    if (this.closed) return ErrorCode.NOT_COORDINATOR
    const group = this.groups.get(req.groupId)
    if (!group) {
      // Outside group management (generation −1) a commit needs no group; inside it, the
      // group must exist (after a broker restart the member rejoins first).
      return req.generationId < 0 ? ErrorCode.NONE : ErrorCode.ILLEGAL_GENERATION
    }
    if (group.state === 'Dead') return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if (req.generationId < 0 && group.state === 'Empty') return ErrorCode.NONE
    if (req.generationId >= 0 || req.memberId !== '' || req.groupInstanceId !== null) {
      const member = group.members.get(req.memberId)
      if (!member) return ErrorCode.UNKNOWN_MEMBER_ID
      if (req.generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION
      // A commit is a sign of life too.
      this.scheduleHeartbeat(group, member, member.sessionTimeoutMs)
    } else if (group.state !== 'Empty') {
      // No member id and no generation: only an empty group takes such commits.
      return ErrorCode.UNKNOWN_MEMBER_ID
    }
    // The member has the new generation but not its assignment yet: it should not commit.
    if (group.state === 'CompletingRebalance') return ErrorCode.REBALANCE_IN_PROGRESS
    return ErrorCode.NONE
  }

  /**
   * Commits offsets; resolves once they are durable. `partitionExists` (the topic store)
   * turns commits for partitions the broker does not have into UNKNOWN_TOPIC_OR_PARTITION.
   */
  async commitOffsets(req: OffsetCommitRequest, partitionExists: (topic: string, partition: number) => boolean = () => true): Promise<OffsetCommitResult> {
    const groupError = this.commitError(req)
    const codes = req.topics.map((t) =>
      t.partitions.map((p) => {
        if (groupError !== ErrorCode.NONE) return groupError
        if (!partitionExists(t.name, p.partitionIndex)) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        if (p.committedMetadata !== null && Buffer.byteLength(p.committedMetadata, 'utf8') > this.maxOffsetMetadataBytes) return ErrorCode.OFFSET_METADATA_TOO_LARGE
        return ErrorCode.NONE
      }),
    )
    const accepted = req.topics.flatMap((t, ti) =>
      t.partitions
        .filter((_, pi) => codes[ti][pi] === ErrorCode.NONE)
        .map((p) => ({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, leaderEpoch: p.committedLeaderEpoch, metadata: p.committedMetadata ?? '' })),
    )
    let storeError: number = ErrorCode.NONE
    if (accepted.length > 0) {
      try {
        await this.offsets.commitOffsets(req.groupId, accepted)
      } catch (err) {
        // Not durable, so not committed. COORDINATOR_NOT_AVAILABLE is retriable: the
        // client looks the coordinator up again and retries.
        this.log(`group ${req.groupId}: offset commit failed: ${err instanceof Error ? err.message : String(err)}`)
        storeError = ErrorCode.COORDINATOR_NOT_AVAILABLE
      }
    }
    return {
      topics: req.topics.map((t, ti) => ({
        name: t.name,
        partitions: t.partitions.map((p, pi) => ({ partitionIndex: p.partitionIndex, errorCode: codes[ti][pi] === ErrorCode.NONE ? storeError : codes[ti][pi] })),
      })),
    }
  }

  fetchOffsets(req: OffsetFetchRequest): Promise<OffsetFetchResult> {
    if (this.closed) return Promise.resolve({ errorCode: ErrorCode.NOT_COORDINATOR, topics: [] })
    if (req.topics === null) {
      const topics = this.offsets.committedOffsets(req.groupId).map((t) => ({
        name: t.topic,
        partitions: t.partitions.map(({ partition, committed }) => ({
          partitionIndex: partition,
          committedOffset: committed.offset,
          committedLeaderEpoch: committed.leaderEpoch,
          metadata: committed.metadata,
          errorCode: ErrorCode.NONE,
        })),
      }))
      return Promise.resolve({ errorCode: ErrorCode.NONE, topics })
    }
    const topics = req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitionIndexes.map((partitionIndex) => {
        const c = this.offsets.committedOffset(req.groupId, t.name, partitionIndex)
        // Nothing committed: offset −1 and empty metadata, as Kafka answers (not an error).
        return c
          ? { partitionIndex, committedOffset: c.offset, committedLeaderEpoch: c.leaderEpoch, metadata: c.metadata, errorCode: ErrorCode.NONE }
          : { partitionIndex, committedOffset: -1, committedLeaderEpoch: -1, metadata: '', errorCode: ErrorCode.NONE }
      }),
    }))
    return Promise.resolve({ errorCode: ErrorCode.NONE, topics })
  }

  // ---- Shutdown -----------------------------------------------------------------------

  /** Every waiting JoinGroup/SyncGroup is answered NOT_COORDINATOR; every timer stops. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.closed = true
    for (const group of this.groups.values()) {
      group.cancelJoinTimer?.()
      group.cancelJoinTimer = null
      group.cancelSyncTimer?.()
      group.cancelSyncTimer = null
      for (const cancel of group.pendingMembers.values()) cancel()
      group.pendingMembers.clear()
      for (const m of group.members.values()) {
        m.cancelHeartbeat?.()
        m.cancelHeartbeat = null
        const join = m.joinWaiter
        m.joinWaiter = null
        join?.(joinError(ErrorCode.NOT_COORDINATOR, m.id))
        const sync = m.syncWaiter
        m.syncWaiter = null
        sync?.(syncError(ErrorCode.NOT_COORDINATOR))
      }
      group.transitionTo('Dead')
    }
    return Promise.resolve()
  }
}
