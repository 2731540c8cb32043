// SyncGroup (key 14), versions 0–3 (SyncGroupRequest.json / SyncGroupResponse.json): v1
// adds ThrottleTimeMs, v3 GroupInstanceId. All non-flexible.
import type { Reader, Writer } from '../protocol/types'
import type { SyncGroupRequest, SyncGroupResult } from '../groups/types'
import type { ApiSpec } from './api'
import { NO_THROTTLE_MS, body } from './codec-helpers'

export function decodeSyncGroupRequest(r: Reader, version: number): SyncGroupRequest {
  const groupId = r.string()
  const generationId = r.int32()
  const memberId = r.string()
  const groupInstanceId = version >= 3 ? r.nullableString() : null
  // Copied: the assignments outlive the request frame (followers fetch theirs later).
  const assignments = r.array((a) => ({ memberId: a.string(), assignment: Buffer.from(a.bytes()) }))
  return { groupId, generationId, memberId, groupInstanceId, assignments }
}

export function encodeSyncGroupResponse(w: Writer, version: number, res: SyncGroupResult): void {
  if (version >= 1) w.int32(NO_THROTTLE_MS)
  w.int16(res.errorCode)
  w.bytes(res.assignment)
}

export const syncGroupApi: ApiSpec = {
  key: 14,
  name: 'SyncGroup',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: null,
  async handle(ctx, request) {
    const res = await ctx.services.groups.syncGroup(decodeSyncGroupRequest(request, ctx.apiVersion))
    return body((w) => encodeSyncGroupResponse(w, ctx.apiVersion, res))
  },
}
