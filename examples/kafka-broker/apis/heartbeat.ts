// Heartbeat (key 12), versions 0–3 (HeartbeatRequest.json / HeartbeatResponse.json): v1
// adds ThrottleTimeMs, v3 GroupInstanceId. All non-flexible.
import type { Reader, Writer } from '../protocol/types'
import type { HeartbeatRequest } from '../groups/types'
import type { ApiSpec } from './api'
import { NO_THROTTLE_MS, body } from './codec-helpers'

export function decodeHeartbeatRequest(r: Reader, version: number): HeartbeatRequest {
  const groupId = r.string()
  const generationId = r.int32()
  const memberId = r.string()
  const groupInstanceId = version >= 3 ? r.nullableString() : null
  return { groupId, generationId, memberId, groupInstanceId }
}

export function encodeHeartbeatResponse(w: Writer, version: number, res: { errorCode: number }): void {
  if (version >= 1) w.int32(NO_THROTTLE_MS)
  w.int16(res.errorCode)
}

export const heartbeatApi: ApiSpec = {
  key: 12,
  name: 'Heartbeat',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: null,
  async handle(ctx, request) {
    const res = await ctx.services.groups.heartbeat(decodeHeartbeatRequest(request, ctx.apiVersion))
    return body((w) => encodeHeartbeatResponse(w, ctx.apiVersion, res))
  },
}
