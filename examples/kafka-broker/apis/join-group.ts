// JoinGroup (key 11), versions 0–5 (apache/kafka JoinGroupRequest.json /
// JoinGroupResponse.json): v1 adds RebalanceTimeoutMs, v2 ThrottleTimeMs, v4 the
// MEMBER_ID_REQUIRED round trip, v5 GroupInstanceId. All non-flexible.
import type { Reader, Writer } from '../protocol/types'
import type { JoinGroupRequest, JoinGroupResult } from '../groups/types'
import type { ApiSpec } from './api'
import { NO_THROTTLE_MS, body } from './codec-helpers'

export function decodeJoinGroupRequest(r: Reader, version: number, clientId: string): JoinGroupRequest {
  const groupId = r.string()
  const sessionTimeoutMs = r.int32()
  const rebalanceTimeoutMs = version >= 1 ? r.int32() : -1
  const memberId = r.string()
  const groupInstanceId = version >= 5 ? r.nullableString() : null
  const protocolType = r.string()
  const protocols = r.array((p) => ({ name: p.string(), metadata: Buffer.from(p.bytes()) }))
  return {
    groupId,
    sessionTimeoutMs,
    // v0 has no rebalance timeout: Kafka uses the session timeout in its place.
    rebalanceTimeoutMs: rebalanceTimeoutMs < 0 ? sessionTimeoutMs : rebalanceTimeoutMs,
    memberId,
    groupInstanceId,
    protocolType,
    protocols,
    clientId,
    requireKnownMemberId: version >= 4,
  }
}

export function encodeJoinGroupResponse(w: Writer, version: number, res: JoinGroupResult): void {
  if (version >= 2) w.int32(NO_THROTTLE_MS)
  w.int16(res.errorCode)
  w.int32(res.generationId)
  // Nullable only from v7: an error answer carries '' here.
  w.string(res.protocolName ?? '')
  w.string(res.leader)
  w.string(res.memberId)
  w.array(res.members, (mw, m) => {
    mw.string(m.memberId)
    if (version >= 5) mw.nullableString(m.groupInstanceId)
    mw.bytes(m.metadata)
  })
}

export const joinGroupApi: ApiSpec = {
  key: 11,
  name: 'JoinGroup',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: null,
  async handle(ctx, request) {
    // The metadata is copied out of the frame: the member keeps it across rebalances.
    const req = decodeJoinGroupRequest(request, ctx.apiVersion, ctx.clientId ?? '')
    const res = await ctx.services.groups.joinGroup(req)
    return body((w) => encodeJoinGroupResponse(w, ctx.apiVersion, res))
  },
}
