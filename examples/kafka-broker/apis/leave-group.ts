// LeaveGroup (key 13), versions 0–3 (LeaveGroupRequest.json / LeaveGroupResponse.json):
// v0–2 name one member, v3 a batch of member identities answered one by one; v1 adds
// ThrottleTimeMs. All non-flexible.
import type { Reader, Writer } from '../protocol/types'
import type { LeaveGroupRequest, LeaveGroupResult } from '../groups/types'
import type { ApiSpec } from './api'
import { NO_THROTTLE_MS, body } from './codec-helpers'

export function decodeLeaveGroupRequest(r: Reader, version: number): LeaveGroupRequest {
  const groupId = r.string()
  if (version <= 2) return { groupId, members: [{ memberId: r.string(), groupInstanceId: null }] }
  return { groupId, members: r.array((m) => ({ memberId: m.string(), groupInstanceId: m.nullableString() })) }
}

export function encodeLeaveGroupResponse(w: Writer, version: number, res: LeaveGroupResult): void {
  if (version >= 1) w.int32(NO_THROTTLE_MS)
  if (version <= 2) {
    // One member, no member list: its error is the answer (as Kafka's KafkaApis does).
    const memberError = res.members.find((m) => m.errorCode !== 0)?.errorCode ?? 0
    w.int16(res.errorCode !== 0 ? res.errorCode : memberError)
    return
  }
  w.int16(res.errorCode)
  w.array(res.members, (mw, m) => {
    mw.string(m.memberId)
    mw.nullableString(m.groupInstanceId)
    mw.int16(m.errorCode)
  })
}

export const leaveGroupApi: ApiSpec = {
  key: 13,
  name: 'LeaveGroup',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: null,
  async handle(ctx, request) {
    const res = await ctx.services.groups.leaveGroup(decodeLeaveGroupRequest(request, ctx.apiVersion))
    return body((w) => encodeLeaveGroupResponse(w, ctx.apiVersion, res))
  },
}
