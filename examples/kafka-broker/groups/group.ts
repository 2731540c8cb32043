// One consumer group's membership, as Kafka's classic group keeps it
// (group-coordinator/…/classic/ClassicGroup.java, ClassicGroupMember.java): members in
// join order (the first is the default leader), the protocols they support, who is
// waiting for a JoinGroup or SyncGroup answer. The coordinator drives the transitions.
import type { CancelTimer } from './clock'
import type { GroupStateName, JoinGroupMember, JoinGroupProtocol, JoinGroupResult, SyncGroupResult } from './types'

export const EMPTY_ASSIGNMENT = Buffer.alloc(0)

export class Member {
  assignment: Buffer = EMPTY_ASSIGNMENT
  /** Set while its JoinGroup waits for the rebalance to complete. */
  joinWaiter: ((r: JoinGroupResult) => void) | null = null
  /** Set while its SyncGroup waits for the leader's assignment. */
  syncWaiter: ((r: SyncGroupResult) => void) | null = null
  /**
   * Joined during the current rebalance and not yet answered. Such a member can be
   * expired while it waits (its client cannot heartbeat without an id), so a client that
   * vanished mid-rebalance does not hold the group forever.
   */
  isNew = true
  cancelHeartbeat: CancelTimer | null = null

  constructor(
    readonly id: string,
    readonly clientId: string,
    readonly groupInstanceId: string | null,
    public sessionTimeoutMs: number,
    public rebalanceTimeoutMs: number,
    readonly protocolType: string,
    public protocols: readonly JoinGroupProtocol[],
  ) {}

  get awaitingJoin(): boolean {
    return this.joinWaiter !== null
  }

  get awaitingSync(): boolean {
    return this.syncWaiter !== null
  }

  /**
   * Whether an expired heartbeat timer should spare it: a member waiting for a rebalance
   * answer cannot heartbeat and is not late (new members excepted, see isNew).
   */
  get hasSatisfiedHeartbeat(): boolean {
    return !this.isNew && (this.awaitingJoin || this.awaitingSync)
  }

  /** Same protocols, same order, same metadata: a rejoin that changes nothing. */
  matches(protocols: readonly JoinGroupProtocol[]): boolean {
    return protocols.length === this.protocols.length && protocols.every((p, i) => p.name === this.protocols[i].name && p.metadata.equals(this.protocols[i].metadata))
  }

  /** Its most preferred protocol among the candidates. */
  vote(candidates: ReadonlySet<string>): string | null {
    for (const p of this.protocols) if (candidates.has(p.name)) return p.name
    return null
  }

  metadataFor(protocolName: string): Buffer {
    return this.protocols.find((p) => p.name === protocolName)?.metadata ?? EMPTY_ASSIGNMENT
  }
}

export class Group {
  state: GroupStateName = 'Empty'
  previousState: GroupStateName = 'Empty'
  generationId = 0
  protocolType: string | null = null
  protocolName: string | null = null
  leaderId: string | null = null
  /** In join order: Map iteration order is insertion order. */
  readonly members = new Map<string, Member>()
  /** Ids handed out with MEMBER_ID_REQUIRED, waiting for the second JoinGroup (each with its expiry). */
  readonly pendingMembers = new Map<string, CancelTimer>()
  /** Members of the new generation that have not sent SyncGroup yet. */
  readonly pendingSync = new Set<string>()
  /** Completes the join phase when the rebalance (or initial delay) timeout passes. */
  cancelJoinTimer: CancelTimer | null = null
  /** Expires members that never sent SyncGroup. */
  cancelSyncTimer: CancelTimer | null = null
  /** A member joined during the initial delay: the delay is extended (Kafka's group.initial.rebalance.delay.ms). */
  newMemberAdded = false

  constructor(readonly id: string) {}

  transitionTo(state: GroupStateName): void {
    this.previousState = this.state
    this.state = state
  }

  add(member: Member): void {
    if (this.members.size === 0) this.protocolType = member.protocolType
    this.leaderId ??= member.id
    this.members.set(member.id, member)
    this.pendingMembers.delete(member.id)
  }

  remove(memberId: string): void {
    this.members.delete(memberId)
    this.pendingSync.delete(memberId)
    if (this.leaderId === memberId) this.leaderId = this.members.keys().next().value ?? null
  }

  /** Protocol names every member supports. */
  private candidateProtocols(): Set<string> {
    const counts = new Map<string, number>()
    for (const m of this.members.values()) for (const p of new Set(m.protocols.map((x) => x.name))) counts.set(p, (counts.get(p) ?? 0) + 1)
    return new Set([...counts].filter(([, n]) => n === this.members.size).map(([name]) => name))
  }

  /**
   * Whether a member of this type and protocols may join: an empty group takes any
   * non-empty offer; otherwise the type must match and one offered protocol must be
   * supported by every current member.
   */
  supportsProtocols(protocolType: string, protocolNames: readonly string[]): boolean {
    if (this.state === 'Empty' || this.members.size === 0) return protocolType !== '' && protocolNames.length > 0
    if (this.protocolType !== protocolType) return false
    const candidates = this.candidateProtocols()
    return protocolNames.some((n) => candidates.has(n))
  }

  /**
   * The group's protocol: among those every member supports, each member votes for its
   * most preferred; most votes wins, a tie goes to the leader's preference order.
   */
  selectProtocol(): string | null {
    const candidates = this.candidateProtocols()
    const votes = new Map<string, number>()
    for (const m of this.members.values()) {
      const v = m.vote(candidates)
      if (v !== null) votes.set(v, (votes.get(v) ?? 0) + 1)
    }
    const leader = this.leaderId !== null ? this.members.get(this.leaderId) : undefined
    const order = (leader ?? this.members.values().next().value)?.protocols.map((p) => p.name) ?? []
    let best: string | null = null
    let bestVotes = 0
    for (const name of order) {
      const n = votes.get(name) ?? 0
      if (n > bestVotes) {
        best = name
        bestVotes = n
      }
    }
    return best
  }

  /** Every current member has a JoinGroup waiting and no MEMBER_ID_REQUIRED id is outstanding. */
  hasAllMembersJoined(): boolean {
    for (const m of this.members.values()) if (!m.awaitingJoin) return false
    return this.pendingMembers.size === 0
  }

  /** The longest rebalance timeout any member asked for. */
  rebalanceTimeoutMs(): number {
    let ms = 0
    for (const m of this.members.values()) ms = Math.max(ms, m.rebalanceTimeoutMs)
    return ms
  }

  /** What the leader's JoinGroup answer lists: every member with its metadata for the chosen protocol. */
  membersForLeader(): JoinGroupMember[] {
    const name = this.protocolName ?? ''
    return [...this.members.values()].map((m) => ({ memberId: m.id, groupInstanceId: m.groupInstanceId, metadata: m.metadataFor(name) }))
  }
}
