// OffsetFetch (key 9), versions 0–5 (OffsetFetchRequest.json / OffsetFetchResponse.json):
// v2 allows null Topics (= every committed partition of the group) and adds a top-level
// ErrorCode, v3 ThrottleTimeMs, v5 CommittedLeaderEpoch. All non-flexible.
import { ProtocolError, type Reader, type Writer } from '../protocol/types'
import type { OffsetFetchRequest, OffsetFetchResult } from '../groups/types'
import type { ApiSpec } from './api'
import { NO_THROTTLE_MS, body, readNullableArray } from './codec-helpers'

export function decodeOffsetFetchRequest(r: Reader, version: number): OffsetFetchRequest {
  const groupId = r.string()
  const topics = readNullableArray(r, (t) => ({ name: t.string(), partitionIndexes: t.array((p) => p.int32()) }))
  if (topics === null && version < 2) throw new ProtocolError(`OffsetFetch v${version}: null topics (allowed from v2)`)
  return { groupId, topics }
}

export function encodeOffsetFetchResponse(w: Writer, version: number, res: OffsetFetchResult): void {
  if (version >= 3) w.int32(NO_THROTTLE_MS)
  // v0–1 have no group-level error: a refused fetch shows it on every partition instead.
  const partitionError = version < 2 ? res.errorCode : 0
  w.array(res.topics, (tw, t) => {
    tw.string(t.name)
    tw.array(t.partitions, (pw, p) => {
      pw.int32(p.partitionIndex)
      pw.int64(p.committedOffset)
      if (version >= 5) pw.int32(p.committedLeaderEpoch)
      pw.nullableString(p.metadata)
      pw.int16(p.errorCode !== 0 ? p.errorCode : partitionError)
    })
  })
  if (version >= 2) w.int16(res.errorCode)
}

export const offsetFetchApi: ApiSpec = {
  key: 9,
  name: 'OffsetFetch',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: null,
  async handle(ctx, request) {
    const req = decodeOffsetFetchRequest(request, ctx.apiVersion)
    let res = await ctx.services.groups.fetchOffsets(req)
    if (ctx.apiVersion < 2 && res.errorCode !== 0 && res.topics.length === 0 && req.topics !== null) {
      // v0–1 cannot carry a group-level error without partitions: list the asked ones.
      const errorCode = res.errorCode
      res = {
        errorCode,
        topics: req.topics.map((t) => ({
          name: t.name,
          partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, committedOffset: -1, committedLeaderEpoch: -1, metadata: '', errorCode })),
        })),
      }
    }
    return body((w) => encodeOffsetFetchResponse(w, ctx.apiVersion, res))
  },
}
