// The broker example's group coordinator (examples/kafka-broker/groups/) as a state
// machine, with a fake clock and no sockets: joins and generations, the leader's view,
// SyncGroup waiting for the leader, rebalances on join / leave / session timeout /
// rebalance timeout, stale generations, offsets; then the group APIs' codecs, version by
// version, through the BufferReader/BufferWriter, and their handlers over a coordinator.

import type { Socket } from 'node:net'
import test, { type ExecutionContext } from 'ava'

import type { ApiSpec, BrokerServices, RequestContext } from '../examples/kafka-broker/apis/api'
import { decodeJoinGroupRequest, encodeJoinGroupResponse } from '../examples/kafka-broker/apis/join-group'
import { decodeOffsetCommitRequest } from '../examples/kafka-broker/apis/offset-commit'
import { decodeOffsetFetchRequest, encodeOffsetFetchResponse } from '../examples/kafka-broker/apis/offset-fetch'
import { Coordinator, type CoordinatorOptions, type OffsetStore } from '../examples/kafka-broker/groups/coordinator'
import { ErrorCode } from '../examples/kafka-broker/groups/error-codes'
import { groupApis } from '../examples/kafka-broker/groups/index'
import type { JoinGroupProtocol, JoinGroupRequest, JoinGroupResult, OffsetCommitRequest, SyncGroupResult } from '../examples/kafka-broker/groups/types'
import { BufferReader } from '../examples/kafka-broker/protocol/reader'
import { ProtocolError, type Writer } from '../examples/kafka-broker/protocol/types'
import { BufferWriter } from '../examples/kafka-broker/protocol/writer'
import type { CommittedOffset } from '../examples/kafka-broker/state/image'
import type { OffsetCommitInput } from '../examples/kafka-broker/state/store'
import { FakeClock } from './helpers/fake-clock'

const SESSION_MS = 10_000
const REBALANCE_MS = 30_000
const INITIAL_DELAY_MS = 3000
const G = 'g'

/** Offsets in memory; `gate` (when set) holds every commit until the test opens it. */
class MemoryOffsets implements OffsetStore {
  readonly data = new Map<string, CommittedOffset>()
  gate: Promise<void> | null = null
  failWith: Error | null = null
  async commitOffsets(group: string, commits: readonly OffsetCommitInput[]): Promise<void> {
    if (this.gate) await this.gate
    if (this.failWith) throw this.failWith
    for (const c of commits) this.data.set(`${group}\0${c.topic}\0${c.partition}`, { offset: c.offset, leaderEpoch: c.leaderEpoch, metadata: c.metadata, commitTimestampMs: 0 })
  }
  committedOffset(group: string, topic: string, partition: number): CommittedOffset | null {
    return this.data.get(`${group}\0${topic}\0${partition}`) ?? null
  }
  committedOffsets(group: string): Array<{ topic: string; partitions: Array<{ partition: number; committed: CommittedOffset }> }> {
    const byTopic = new Map<string, Array<{ partition: number; committed: CommittedOffset }>>()
    for (const [k, committed] of this.data) {
      const [g, topic, p] = k.split('\0')
      if (g !== group) continue
      if (!byTopic.has(topic)) byTopic.set(topic, [])
      byTopic.get(topic)!.push({ partition: Number(p), committed })
    }
    return [...byTopic].sort(([a], [b]) => (a < b ? -1 : 1)).map(([topic, partitions]) => ({ topic, partitions: partitions.sort((a, b) => a.partition - b.partition) }))
  }
}

function setup(opts: CoordinatorOptions = {}): { clock: FakeClock; store: MemoryOffsets; c: Coordinator } {
  const clock = new FakeClock()
  const store = new MemoryOffsets()
  let n = 0
  const c = new Coordinator(store, { clock, initialRebalanceDelayMs: INITIAL_DELAY_MS, newMemberSuffix: () => String(++n), ...opts })
  return { clock, store, c }
}

const range = (clientId: string): JoinGroupProtocol[] => [{ name: 'range', metadata: Buffer.from(`meta-${clientId}`) }]

function joinReq(memberId: string, clientId: string, over: Partial<JoinGroupRequest> = {}): JoinGroupRequest {
  return {
    groupId: G,
    sessionTimeoutMs: SESSION_MS,
    rebalanceTimeoutMs: REBALANCE_MS,
    memberId,
    groupInstanceId: null,
    protocolType: 'consumer',
    protocols: range(clientId),
    clientId,
    requireKnownMemberId: true,
    ...over,
  }
}

/** Lets promise callbacks run. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A promise whose settlement the test can look at without awaiting it. */
interface Tracked<T> {
  done: boolean
  value: T | undefined
}
function track<T>(p: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { done: false, value: undefined }
  void p.then((v) => {
    t.done = true
    t.value = v
  })
  return t
}

/** The v4+ first join: MEMBER_ID_REQUIRED with the id to join with. */
async function memberIdFor(t: ExecutionContext, c: Coordinator, clientId: string): Promise<string> {
  const r = await c.joinGroup(joinReq('', clientId))
  t.is(r.errorCode, ErrorCode.MEMBER_ID_REQUIRED, `${clientId}: first join asks for a member id`)
  t.true(r.memberId.startsWith(`${clientId}-`), `member id ${r.memberId} is clientId-suffix`)
  return r.memberId
}

const sync = (c: Coordinator, memberId: string, generationId: number, assignments: Array<{ memberId: string; assignment: Buffer }> = []): Promise<SyncGroupResult> =>
  c.syncGroup({ groupId: G, generationId, memberId, groupInstanceId: null, assignments })

const heartbeat = async (c: Coordinator, memberId: string, generationId: number, groupId = G): Promise<number> =>
  (await c.heartbeat({ groupId, generationId, memberId, groupInstanceId: null })).errorCode

/** Two members (a, the leader, and b) through their v4 joins, past the initial delay: generation 1 awaits its sync. */
async function joinedGroupOfTwo(t: ExecutionContext, s: ReturnType<typeof setup>): Promise<{ a: string; b: string; ja: Tracked<JoinGroupResult>; jb: Tracked<JoinGroupResult> }> {
  const { c, clock } = s
  const a = await memberIdFor(t, c, 'a')
  const b = await memberIdFor(t, c, 'b')
  const ja = track(c.joinGroup(joinReq(a, 'a')))
  const jb = track(c.joinGroup(joinReq(b, 'b')))
  clock.advance(2 * INITIAL_DELAY_MS)
  await tick()
  return { a, b, ja, jb }
}

/** Two members through the whole v4 dance to a Stable generation 1, each assigned its own name. */
async function stableGroupOfTwo(t: ExecutionContext, s: ReturnType<typeof setup>): Promise<[string, string]> {
  const { c } = s
  const { a, b, ja, jb } = await joinedGroupOfTwo(t, s)
  t.true(ja.done && jb.done)
  const sa = track(sync(c, a, 1, [{ memberId: a, assignment: Buffer.from('A') }, { memberId: b, assignment: Buffer.from('B') }]))
  const sb = track(sync(c, b, 1))
  await tick()
  t.true(sa.done && sb.done)
  t.is(c.describe(G)?.state, 'Stable')
  return [a, b]
}

test('two members join: one generation, the leader gets both members and their metadata, the follower none', async (t) => {
  const s = setup()
  const { c, clock } = s
  const a = await memberIdFor(t, c, 'a')
  const b = await memberIdFor(t, c, 'b')
  t.not(a, b)
  t.deepEqual(c.describe(G)?.pendingMembers, [a, b], 'ids handed out are pending until the second join')
  const ja = track(c.joinGroup(joinReq(a, 'a')))
  const jb = track(c.joinGroup(joinReq(b, 'b')))
  await tick()
  t.is(c.describe(G)?.state, 'PreparingRebalance')
  clock.advance(INITIAL_DELAY_MS)
  await tick()
  t.false(ja.done, 'a member joined during the initial delay: the delay is extended once more')
  clock.advance(INITIAL_DELAY_MS)
  await tick()
  t.true(ja.done && jb.done, 'both answered when the initial delay ends')
  const ra = ja.value as JoinGroupResult
  const rb = jb.value as JoinGroupResult
  t.is(ra.errorCode, ErrorCode.NONE)
  t.is(ra.generationId, 1)
  t.is(rb.generationId, 1)
  t.is(ra.leader, a)
  t.is(rb.leader, a)
  t.is(ra.protocolName, 'range')
  t.deepEqual(
    ra.members.map((m) => [m.memberId, m.metadata.toString()]),
    [
      [a, 'meta-a'],
      [b, 'meta-b'],
    ],
    'the leader sees every member with its metadata',
  )
  t.deepEqual(rb.members, [], 'a follower sees no members')
  t.is(c.describe(G)?.state, 'CompletingRebalance')
})

test('SyncGroup: a follower waits until the leader syncs, then each gets its own assignment', async (t) => {
  const s = setup()
  const { c } = s
  const { a, b } = await joinedGroupOfTwo(t, s)
  const sb = track(sync(c, b, 1))
  await tick()
  t.false(sb.done, 'the follower waits for the leader')
  t.is(await heartbeat(c, b, 1), ErrorCode.NONE, 'heartbeats are fine while the sync is pending')
  const ra = await sync(c, a, 1, [
    { memberId: a, assignment: Buffer.from('for-a') },
    { memberId: b, assignment: Buffer.from('for-b') },
  ])
  await tick()
  t.is(ra.errorCode, ErrorCode.NONE)
  t.is(ra.assignment.toString(), 'for-a')
  t.true(sb.done)
  t.is(sb.value?.assignment.toString(), 'for-b')
  t.is(c.describe(G)?.state, 'Stable')
  const again = await sync(c, b, 1)
  t.is(again.assignment.toString(), 'for-b', 'a repeated sync in Stable returns the same assignment')
})

test('a third member joins: rebalance, heartbeats get REBALANCE_IN_PROGRESS, generation 2 once all rejoined', async (t) => {
  const s = setup()
  const { c } = s
  const [a, b] = await stableGroupOfTwo(t, s)
  const m3 = await memberIdFor(t, c, 'c')
  t.is(c.describe(G)?.state, 'Stable', 'a pending member id alone does not rebalance')
  const jc = track(c.joinGroup(joinReq(m3, 'c')))
  await tick()
  t.is(c.describe(G)?.state, 'PreparingRebalance')
  t.is(await heartbeat(c, a, 1), ErrorCode.REBALANCE_IN_PROGRESS)
  t.is(await heartbeat(c, b, 1), ErrorCode.REBALANCE_IN_PROGRESS)
  t.is((await sync(c, b, 1)).errorCode, ErrorCode.REBALANCE_IN_PROGRESS, 'no sync during the join phase')
  const ja = track(c.joinGroup(joinReq(a, 'a')))
  await tick()
  t.false(ja.done || jc.done, 'b has not rejoined yet')
  const jb = track(c.joinGroup(joinReq(b, 'b')))
  await tick()
  t.true(ja.done && jb.done && jc.done, 'everyone rejoined: the join phase completes at once')
  t.is(ja.value?.generationId, 2)
  t.is(ja.value?.leader, a, 'the leader stays')
  t.is(ja.value?.members.length, 3)
  t.is(jc.value?.members.length, 0)
  t.is(await heartbeat(c, a, 1), ErrorCode.ILLEGAL_GENERATION, 'generation 1 is stale now')
  t.is(await heartbeat(c, a, 2), ErrorCode.NONE)
})

test('a member that stops heartbeating is removed after its session timeout, and the group rebalances', async (t) => {
  const s = setup()
  const { c, clock } = s
  const [a, b] = await stableGroupOfTwo(t, s)
  clock.advance(SESSION_MS - 4000)
  t.is(await heartbeat(c, a, 1), ErrorCode.NONE)
  clock.advance(3000)
  t.is(c.describe(G)?.state, 'Stable', 'b is within its session still')
  clock.advance(2000)
  t.is(c.describe(G)?.state, 'PreparingRebalance', "b's session expired")
  t.deepEqual(c.describe(G)?.members, [a])
  t.is(await heartbeat(c, b, 1), ErrorCode.UNKNOWN_MEMBER_ID, 'b is gone')
  t.is(await heartbeat(c, a, 1), ErrorCode.REBALANCE_IN_PROGRESS)
  const ja = await c.joinGroup(joinReq(a, 'a'))
  t.is(ja.generationId, 2)
  t.deepEqual(
    ja.members.map((m) => m.memberId),
    [a],
  )
})

test('the rebalance timeout removes members that never rejoin (even while they heartbeat)', async (t) => {
  const s = setup()
  const { c, clock } = s
  const [a, b] = await stableGroupOfTwo(t, s)
  const ja = track(c.joinGroup(joinReq(a, 'a')))
  await tick()
  t.is(c.describe(G)?.state, 'PreparingRebalance', 'the leader rejoining starts a rebalance')
  for (let at = 5000; at < REBALANCE_MS; at += 5000) {
    clock.advance(5000)
    t.is(await heartbeat(c, b, 1), ErrorCode.REBALANCE_IN_PROGRESS)
  }
  await tick()
  t.false(ja.done)
  clock.advance(5000)
  await tick()
  t.true(ja.done, 'the rebalance timeout completes the join phase')
  t.is(ja.value?.generationId, 2)
  t.deepEqual(
    ja.value?.members.map((m) => m.memberId),
    [a],
    'b was kicked',
  )
  t.is(await heartbeat(c, b, 1), ErrorCode.UNKNOWN_MEMBER_ID)
})

test('LeaveGroup (v3 batch): known members leave, unknown ones get UNKNOWN_MEMBER_ID; the last to leave empties the group', async (t) => {
  const s = setup()
  const { c } = s
  const [a, b] = await stableGroupOfTwo(t, s)
  const res = await c.leaveGroup({
    groupId: G,
    members: [
      { memberId: b, groupInstanceId: null },
      { memberId: 'nobody', groupInstanceId: null },
    ],
  })
  t.is(res.errorCode, ErrorCode.NONE)
  t.deepEqual(
    res.members.map((m) => [m.memberId, m.errorCode]),
    [
      [b, ErrorCode.NONE],
      ['nobody', ErrorCode.UNKNOWN_MEMBER_ID],
    ],
  )
  t.is(c.describe(G)?.state, 'PreparingRebalance')
  const ja = await c.joinGroup(joinReq(a, 'a'))
  t.is(ja.generationId, 2)
  t.is(ja.members.length, 1)
  await c.leaveGroup({ groupId: G, members: [{ memberId: a, groupInstanceId: null }] })
  t.like(c.describe(G), { state: 'Empty', generationId: 3, members: [] })
  const unknownGroup = await c.leaveGroup({ groupId: 'nope', members: [{ memberId: a, groupInstanceId: null }] })
  t.is(unknownGroup.members[0].errorCode, ErrorCode.UNKNOWN_MEMBER_ID)
})

test('a follower waiting in SyncGroup is answered REBALANCE_IN_PROGRESS when a rebalance starts; a leader that never syncs is removed', async (t) => {
  const s = setup()
  const { c, clock } = s
  const { a, b } = await joinedGroupOfTwo(t, s)
  const sb = track(sync(c, b, 1))
  // b keeps heartbeating while it waits; a (the leader) never syncs.
  for (let i = 0; i < 6; i++) {
    clock.advance(5000)
    await heartbeat(c, b, 1)
  }
  await tick()
  t.true(sb.done, 'the pending-sync expiry starts a rebalance, which answers the waiting sync')
  t.is(sb.value?.errorCode, ErrorCode.REBALANCE_IN_PROGRESS)
  t.deepEqual(c.describe(G)?.members, [b], 'the leader that never synced was removed')
  const jb = await c.joinGroup(joinReq(b, 'b'))
  t.is(jb.generationId, 2)
  t.is(jb.leader, b, 'a new leader')
})

test('stale generations and unknown members are refused with the exact codes', async (t) => {
  const s = setup()
  const { c } = s
  const [a] = await stableGroupOfTwo(t, s)
  t.is(await heartbeat(c, a, 0), ErrorCode.ILLEGAL_GENERATION)
  t.is((await sync(c, a, 7)).errorCode, ErrorCode.ILLEGAL_GENERATION)
  t.is(await heartbeat(c, 'ghost', 1), ErrorCode.UNKNOWN_MEMBER_ID)
  t.is(await heartbeat(c, a, 1, 'other-group'), ErrorCode.UNKNOWN_MEMBER_ID)
  t.is((await sync(c, 'ghost', 1)).errorCode, ErrorCode.UNKNOWN_MEMBER_ID)
  t.is((await c.joinGroup(joinReq('ghost', 'x'))).errorCode, ErrorCode.UNKNOWN_MEMBER_ID)
  t.is((await c.joinGroup(joinReq('ghost', 'x', { groupId: 'fresh' }))).errorCode, ErrorCode.UNKNOWN_MEMBER_ID, 'a member id for a group that does not exist')
  const stale = await c.commitOffsets(commitReq(G, 0, a, [['t', 0, 5]]))
  t.is(stale.topics[0].partitions[0].errorCode, ErrorCode.ILLEGAL_GENERATION)
})

test('bad input gets a clear error code: empty group id, session timeout out of range, inconsistent protocols', async (t) => {
  const { c, clock } = setup()
  t.is((await c.joinGroup(joinReq('', 'a', { groupId: '' }))).errorCode, ErrorCode.INVALID_GROUP_ID)
  t.is((await c.syncGroup({ groupId: '', generationId: 1, memberId: 'x', groupInstanceId: null, assignments: [] })).errorCode, ErrorCode.INVALID_GROUP_ID)
  t.is(await heartbeat(c, 'x', 1, ''), ErrorCode.INVALID_GROUP_ID)
  t.is((await c.leaveGroup({ groupId: '', members: [{ memberId: 'x', groupInstanceId: null }] })).errorCode, ErrorCode.INVALID_GROUP_ID)
  t.is((await c.joinGroup(joinReq('', 'a', { sessionTimeoutMs: 10 }))).errorCode, ErrorCode.INVALID_SESSION_TIMEOUT)
  t.is((await c.joinGroup(joinReq('', 'a', { sessionTimeoutMs: 31 * 60 * 1000 }))).errorCode, ErrorCode.INVALID_SESSION_TIMEOUT)
  t.is((await c.joinGroup(joinReq('', 'a', { protocols: [] }))).errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
  t.is((await c.joinGroup(joinReq('', 'a', { protocolType: '' }))).errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
  // A non-empty group only takes members of its protocol type and a shared protocol.
  const first = track(c.joinGroup(joinReq('', 'a', { requireKnownMemberId: false })))
  clock.advance(INITIAL_DELAY_MS)
  await tick()
  t.is(first.value?.errorCode, ErrorCode.NONE, 'a v0–3 join needs no second round')
  t.is((await c.joinGroup(joinReq('', 'b', { protocolType: 'connect' }))).errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
  t.is((await c.joinGroup(joinReq('', 'b', { protocols: [{ name: 'sticky', metadata: Buffer.alloc(0) }] }))).errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
})

test('protocol selection: one every member supports; most votes, ties broken by the leader', async (t) => {
  const { c, clock } = setup()
  const p = (...names: string[]): JoinGroupProtocol[] => names.map((name) => ({ name, metadata: Buffer.from(name) }))
  const ja = track(c.joinGroup(joinReq('', 'a', { requireKnownMemberId: false, protocols: p('roundrobin', 'range') })))
  const jb = track(c.joinGroup(joinReq('', 'b', { requireKnownMemberId: false, protocols: p('range', 'roundrobin') })))
  clock.advance(2 * INITIAL_DELAY_MS)
  await tick()
  t.is(ja.value?.protocolName, 'roundrobin', "a tie goes to the leader's first choice")
  t.deepEqual(
    ja.value?.members.map((m) => m.metadata.toString()),
    ['roundrobin', 'roundrobin'],
    'the leader gets each member’s metadata for the chosen protocol',
  )
  t.is(jb.value?.protocolName, 'roundrobin')

  const s2 = setup()
  const ka = track(s2.c.joinGroup(joinReq('', 'a', { requireKnownMemberId: false, protocols: p('sticky', 'range') })))
  track(s2.c.joinGroup(joinReq('', 'b', { requireKnownMemberId: false, protocols: p('range') })))
  s2.clock.advance(2 * INITIAL_DELAY_MS)
  await tick()
  t.is(ka.value?.protocolName, 'range', 'only range is supported by everyone')
})

function commitReq(groupId: string, generationId: number, memberId: string, parts: Array<[string, number, number, string?]>): OffsetCommitRequest {
  const byTopic = new Map<string, Array<{ partitionIndex: number; committedOffset: number; committedLeaderEpoch: number; committedMetadata: string | null }>>()
  for (const [topic, partitionIndex, committedOffset, meta] of parts) {
    if (!byTopic.has(topic)) byTopic.set(topic, [])
    byTopic.get(topic)!.push({ partitionIndex, committedOffset, committedLeaderEpoch: -1, committedMetadata: meta ?? null })
  }
  return { groupId, generationId, memberId, groupInstanceId: null, topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })) }
}

test('offsets: simple commits (generation −1), member commits, fetch by partition and of everything (null topics)', async (t) => {
  const s = setup()
  const { c } = s
  const simple = await c.commitOffsets(commitReq('simple', -1, '', [['t1', 0, 10, 'm0'], ['t1', 2, 30], ['t0', 1, 7]]))
  t.deepEqual(simple.topics.flatMap((x) => x.partitions.map((p) => p.errorCode)), [0, 0, 0], 'no group needed outside group management')
  const fetched = await c.fetchOffsets({ groupId: 'simple', topics: [{ name: 't1', partitionIndexes: [0, 1, 2] }] })
  t.deepEqual(
    fetched.topics[0].partitions.map((p) => [p.partitionIndex, p.committedOffset, p.metadata, p.errorCode]),
    [
      [0, 10, 'm0', 0],
      [1, -1, '', 0],
      [2, 30, '', 0],
    ],
    'an uncommitted partition answers offset −1, no error',
  )
  const all = await c.fetchOffsets({ groupId: 'simple', topics: null })
  t.deepEqual(
    all.topics.map((x) => [x.name, x.partitions.map((p) => [p.partitionIndex, p.committedOffset])]),
    [
      ['t0', [[1, 7]]],
      [
        't1',
        [
          [0, 10],
          [2, 30],
        ],
      ],
    ],
    'null topics: every committed partition of the group',
  )
  t.deepEqual((await c.fetchOffsets({ groupId: 'nobody', topics: null })).topics, [])

  const [a] = await stableGroupOfTwo(t, s)
  t.is((await c.commitOffsets(commitReq(G, 1, a, [['t', 0, 42]]))).topics[0].partitions[0].errorCode, ErrorCode.NONE)
  t.is(s.store.committedOffset(G, 't', 0)?.offset, 42)
  t.is((await c.commitOffsets(commitReq(G, -1, '', [['t', 0, 1]]))).topics[0].partitions[0].errorCode, ErrorCode.UNKNOWN_MEMBER_ID, 'a non-empty group takes commits from members only')
  const unknown = await c.commitOffsets(commitReq(G, 1, a, [['t', 0, 43], ['gone', 0, 1]]), (topic) => topic === 't')
  t.deepEqual(unknown.topics.map((x) => x.partitions[0].errorCode), [ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION])
  const big = await c.commitOffsets(commitReq(G, 1, a, [['t', 0, 44, 'x'.repeat(4097)]]))
  t.is(big.topics[0].partitions[0].errorCode, ErrorCode.OFFSET_METADATA_TOO_LARGE)
  t.is(s.store.committedOffset(G, 't', 0)?.offset, 43, 'refused commits change nothing')

  // CompletingRebalance: the member has the generation but not its assignment.
  const m3 = await memberIdFor(t, c, 'c')
  void c.joinGroup(joinReq(m3, 'c'))
  void c.joinGroup(joinReq(a, 'a'))
  const [b] = c.describe(G)!.members.filter((m) => m !== a && m !== m3)
  void c.joinGroup(joinReq(b, 'b'))
  await tick()
  t.is(c.describe(G)?.state, 'CompletingRebalance')
  t.is((await c.commitOffsets(commitReq(G, 2, a, [['t', 0, 50]]))).topics[0].partitions[0].errorCode, ErrorCode.REBALANCE_IN_PROGRESS)
})

test('OffsetCommit is answered only once the store has the offsets; a store failure is COORDINATOR_NOT_AVAILABLE', async (t) => {
  const { c, store } = setup()
  let open!: () => void
  store.gate = new Promise((resolve) => (open = resolve))
  const pending = track(c.commitOffsets(commitReq('s', -1, '', [['t', 0, 5]])))
  await tick()
  t.false(pending.done, 'not answered before the write is durable')
  open()
  await tick()
  t.true(pending.done)
  t.is(pending.value?.topics[0].partitions[0].errorCode, ErrorCode.NONE)
  store.gate = null
  store.failWith = new Error('disk on fire')
  const failed = await c.commitOffsets(commitReq('s', -1, '', [['t', 0, 6]]))
  t.is(failed.topics[0].partitions[0].errorCode, ErrorCode.COORDINATOR_NOT_AVAILABLE)
  t.is(store.committedOffset('s', 't', 0)?.offset, 5)
})

test('a pending member id that never comes back is forgotten after its session timeout, letting the rebalance finish', async (t) => {
  const s = setup()
  const { c, clock } = s
  const [a, b] = await stableGroupOfTwo(t, s)
  const m4 = await memberIdFor(t, c, 'd')
  // The leader's rejoin starts a rebalance, which waits for d's second join up to d's session timeout.
  const ja2 = track(c.joinGroup(joinReq(a, 'a')))
  const jb2 = track(c.joinGroup(joinReq(b, 'b')))
  await tick()
  t.false(ja2.done || jb2.done, `every member rejoined, but ${m4} is pending`)
  clock.advance(SESSION_MS)
  await tick()
  t.true(ja2.done && jb2.done, 'the pending id expired and the join phase completed')
  t.deepEqual(c.describe(G)?.pendingMembers, [])
})

test('close answers every waiting JoinGroup and SyncGroup with NOT_COORDINATOR and stops every timer', async (t) => {
  const { c, clock } = setup()
  const a = await memberIdFor(t, c, 'a')
  const ja = track(c.joinGroup(joinReq(a, 'a')))
  await tick()
  await c.close()
  await tick()
  t.is(ja.value?.errorCode, ErrorCode.NOT_COORDINATOR)
  t.is(clock.pending, 0, 'no timer left behind')
  t.is((await c.joinGroup(joinReq('', 'z'))).errorCode, ErrorCode.NOT_COORDINATOR)
  t.is((await c.commitOffsets(commitReq('s', -1, '', [['t', 0, 1]]))).topics[0].partitions[0].errorCode, ErrorCode.NOT_COORDINATOR)
})

// ---- the API modules: codecs per version, handlers over a coordinator ------------------

function writeWith(fn: (w: Writer) => void): BufferReader {
  const w = new BufferWriter()
  fn(w)
  return new BufferReader(Buffer.from(w.finish()))
}

test('JoinGroup codec: v0 has no rebalance timeout (the session timeout stands in), v5 a group instance id; the response grows throttle (v2) and member instance ids (v5)', (t) => {
  const v0 = decodeJoinGroupRequest(
    writeWith((w) => w.string(G).int32(SESSION_MS).string('').string('consumer').array([{ name: 'range', metadata: Buffer.from('m') }], (pw, p) => pw.string(p.name).bytes(p.metadata))),
    0,
    'cid',
  )
  t.like(v0, { groupId: G, sessionTimeoutMs: SESSION_MS, rebalanceTimeoutMs: SESSION_MS, memberId: '', groupInstanceId: null, protocolType: 'consumer', clientId: 'cid', requireKnownMemberId: false })
  const v5 = decodeJoinGroupRequest(
    writeWith((w) => w.string(G).int32(SESSION_MS).int32(REBALANCE_MS).string('m-1').nullableString('inst').string('consumer').array([], () => {})),
    5,
    'cid',
  )
  t.like(v5, { rebalanceTimeoutMs: REBALANCE_MS, memberId: 'm-1', groupInstanceId: 'inst', requireKnownMemberId: true })

  const res: JoinGroupResult = { errorCode: 0, generationId: 3, protocolName: 'range', leader: 'L', memberId: 'M', members: [{ memberId: 'L', groupInstanceId: null, metadata: Buffer.from('md') }] }
  for (const version of [0, 2, 5]) {
    const w = new BufferWriter()
    encodeJoinGroupResponse(w, version, res)
    const r = new BufferReader(Buffer.from(w.finish()))
    if (version >= 2) t.is(r.int32(), 0, 'throttle')
    t.is(r.int16(), 0)
    t.is(r.int32(), 3)
    t.is(r.string(), 'range')
    t.is(r.string(), 'L')
    t.is(r.string(), 'M')
    const members = r.array((m) => ({ id: m.string(), inst: version >= 5 ? m.nullableString() : 'absent', md: m.bytes().toString() }))
    t.deepEqual(members, [{ id: 'L', inst: version >= 5 ? null : 'absent', md: 'md' }], `v${version} members`)
    t.is(r.remaining, 0, `v${version}: nothing left over`)
  }
  const err = new BufferWriter()
  encodeJoinGroupResponse(err, 1, { errorCode: ErrorCode.UNKNOWN_MEMBER_ID, generationId: -1, protocolName: null, leader: '', memberId: '', members: [] })
  const er = new BufferReader(Buffer.from(err.finish()))
  t.is(er.int16(), ErrorCode.UNKNOWN_MEMBER_ID)
  t.is(er.int32(), -1)
  t.is(er.string(), '', 'a null protocol name is written as the empty string before v7')
})

test('OffsetCommit codec: every version 0–7 reads its own fields in order', (t) => {
  for (let version = 0; version <= 7; version++) {
    const r = writeWith((w) => {
      w.string(G)
      if (version >= 1) w.int32(4).string('mem')
      if (version >= 7) w.nullableString(null)
      if (version >= 2 && version <= 4) w.int64(-1)
      w.array(['t'], (tw, name) => {
        tw.string(name)
        tw.array([3], (pw, p) => {
          pw.int32(p).int64(1234)
          if (version >= 6) pw.int32(9)
          if (version === 1) pw.int64(1_700_000_000_000)
          pw.nullableString('meta')
        })
      })
    })
    const req = decodeOffsetCommitRequest(r, version)
    t.is(r.remaining, 0, `v${version}: all bytes read`)
    t.like(req, { groupId: G, generationId: version >= 1 ? 4 : -1, memberId: version >= 1 ? 'mem' : '' }, `v${version}`)
    t.deepEqual(req.topics, [{ name: 't', partitions: [{ partitionIndex: 3, committedOffset: 1234, committedLeaderEpoch: version >= 6 ? 9 : -1, committedMetadata: 'meta' }] }], `v${version} partitions`)
  }
})

test('OffsetFetch codec: null topics from v2 only; the response has a group error from v2 and leader epochs from v5', (t) => {
  const nullTopics = () => writeWith((w) => w.string(G).int32(-1))
  t.is(decodeOffsetFetchRequest(nullTopics(), 2).topics, null)
  t.throws(() => decodeOffsetFetchRequest(nullTopics(), 1), { instanceOf: ProtocolError })
  t.throws(() => decodeOffsetFetchRequest(writeWith((w) => w.string(G).int32(1_000_000)), 3), { instanceOf: ProtocolError }, 'a count beyond the frame')
  const res = { errorCode: 0, topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 5, committedLeaderEpoch: 2, metadata: 'x', errorCode: 0 }] }] }
  for (const [version, bytes] of [
    [1, 4 + 2 + 1 + 4 + 4 + 8 + 2 + 1 + 2],
    [2, 4 + 2 + 1 + 4 + 4 + 8 + 2 + 1 + 2 + 2],
    [5, 4 + 4 + 2 + 1 + 4 + 4 + 8 + 4 + 2 + 1 + 2 + 2],
  ] as const) {
    const w = new BufferWriter()
    encodeOffsetFetchResponse(w, version, res)
    t.is(w.length, bytes, `v${version} size`)
  }
})

/** A context for calling a handler without a connection. */
function ctxFor(spec: ApiSpec, apiVersion: number, services: BrokerServices): RequestContext {
  return { apiKey: spec.key, apiVersion, correlationId: 1, clientId: 'client', flexible: false, services, socket: null as unknown as Socket, signal: new AbortController().signal }
}

function servicesWith(c: Coordinator, topics: Record<string, number> = {}): BrokerServices {
  let nextPid = 100
  return {
    nodeId: 7,
    advertisedHost: 'broker.local',
    advertisedPort: 9093,
    topics: { list: () => [], partitions: (name) => topics[name] ?? null, ensure: () => Promise.reject(new Error('not here')), log: () => null },
    groups: c,
    producerIds: { next: () => Promise.resolve({ producerId: nextPid++, producerEpoch: 0 }) },
    logger: () => {},
  }
}

const spec = (key: number): ApiSpec => groupApis.find((s) => s.key === key)!

test('groupApis: the eight APIs with the versions of DESIGN §8, all non-flexible', (t) => {
  t.deepEqual(
    groupApis.map((s) => [s.name, s.key, s.minVersion, s.maxVersion, s.flexibleFrom]).sort((a, b) => Number(a[1]) - Number(b[1])),
    [
      ['OffsetCommit', 8, 0, 7, null],
      ['OffsetFetch', 9, 0, 5, null],
      ['FindCoordinator', 10, 0, 2, null],
      ['JoinGroup', 11, 0, 5, null],
      ['Heartbeat', 12, 0, 3, null],
      ['LeaveGroup', 13, 0, 3, null],
      ['SyncGroup', 14, 0, 3, null],
      ['InitProducerId', 22, 0, 1, null],
    ],
  )
})

test('handlers: FindCoordinator names this broker (v0–2; unknown key type → INVALID_REQUEST), InitProducerId, OffsetCommit → OffsetFetch, LeaveGroup v0', async (t) => {
  const { c } = setup()
  const services = servicesWith(c, { t: 2 })
  const call = async (key: number, version: number, fill: (w: Writer) => void): Promise<BufferReader> => {
    const s = spec(key)
    const out = await s.handle(ctxFor(s, version, services), writeWith(fill))
    if (out.kind !== 'body') throw new Error(`expected a body, got ${out.kind}`)
    return new BufferReader(out.body)
  }
  for (const version of [0, 1, 2]) {
    const r = await call(10, version, (w) => {
      w.string(G)
      if (version >= 1) w.int8(0)
    })
    if (version >= 1) t.is(r.int32(), 0)
    t.is(r.int16(), 0)
    if (version >= 1) t.is(r.nullableString(), null)
    t.deepEqual([r.int32(), r.string(), r.int32()], [7, 'broker.local', 9093], `FindCoordinator v${version}`)
    t.is(r.remaining, 0)
  }
  const bad = await call(10, 1, (w) => w.string(G).int8(5))
  bad.int32()
  t.is(bad.int16(), ErrorCode.INVALID_REQUEST)

  const pid = await call(22, 1, (w) => w.nullableString(null).int32(60_000))
  t.deepEqual([pid.int32(), pid.int16(), pid.int64(), pid.int16()], [0, 0, 100, 0])

  const commit = await call(8, 2, (w) =>
    w
      .string('simple')
      .int32(-1)
      .string('')
      .int64(-1)
      .array(['t', 'nope'], (tw, name) => tw.string(name).array([1], (pw, p) => pw.int32(p).int64(77).nullableString(null))),
  )
  const codes = commit.array((tr) => [tr.string(), tr.array((pr) => [pr.int32(), pr.int16()])])
  t.deepEqual(codes, [
    ['t', [[1, 0]]],
    ['nope', [[1, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]]],
  ])
  const fetch = await call(9, 5, (w) => w.string('simple').int32(-1))
  t.is(fetch.int32(), 0)
  const topics = fetch.array((tr) => [tr.string(), tr.array((pr) => [pr.int32(), pr.int64(), pr.int32(), pr.nullableString(), pr.int16()])])
  t.deepEqual(topics, [['t', [[1, 77, -1, '', 0]]]])
  t.is(fetch.int16(), 0)

  const leave = await call(13, 0, (w) => w.string(G).string('ghost'))
  t.is(leave.int16(), ErrorCode.UNKNOWN_MEMBER_ID, 'v0: the member error is the answer')
  t.is(leave.remaining, 0)
})

test('handlers: a truncated request is a ProtocolError (the connection closes), never a crash or a hang', async (t) => {
  const { c } = setup()
  const services = servicesWith(c)
  for (const s of groupApis) {
    for (let version = s.minVersion; version <= s.maxVersion; version++) {
      const truncated = new BufferReader(Buffer.from([0, 5, 0x61]))
      await t.throwsAsync(() => s.handle(ctxFor(s, version, services), truncated), { instanceOf: ProtocolError }, `${s.name} v${version}`)
    }
  }
})
