// OffsetCommit (key 8), versions 0–7 (OffsetCommitRequest.json / OffsetCommitResponse.json):
// v1 adds GenerationId, MemberId and a per-partition CommitTimestamp (v1 only), v2–4 a
// RetentionTimeMs (ignored: offsets here are kept until overwritten), v3 ThrottleTimeMs,
// v6 CommittedLeaderEpoch, v7 GroupInstanceId. All non-flexible. Answered only once the
// accepted offsets are durable in the state WAL.
import type { Reader, Writer } from '../protocol/types'
import type { OffsetCommitRequest, OffsetCommitResult } from '../groups/types'
import type { ApiSpec } from './api'
import { NO_THROTTLE_MS, body } from './codec-helpers'

export function decodeOffsetCommitRequest(r: Reader, version: number): OffsetCommitRequest {
  const groupId = r.string()
  const generationId = version >= 1 ? r.int32() : -1
  const memberId = version >= 1 ? r.string() : ''
  const groupInstanceId = version >= 7 ? r.nullableString() : null
  if (version >= 2 && version <= 4) r.int64() // RetentionTimeMs
  const topics = r.array((t) => ({
    name: t.string(),
    partitions: t.array((p) => {
      const partitionIndex = p.int32()
      const committedOffset = p.int64()
      const committedLeaderEpoch = version >= 6 ? p.int32() : -1
      if (version === 1) p.int64() // CommitTimestamp: the broker stamps commits itself
      const committedMetadata = p.nullableString()
      return { partitionIndex, committedOffset, committedLeaderEpoch, committedMetadata }
    }),
  }))
  return { groupId, generationId, memberId, groupInstanceId, topics }
}

export function encodeOffsetCommitResponse(w: Writer, version: number, res: OffsetCommitResult): void {
  if (version >= 3) w.int32(NO_THROTTLE_MS)
  w.array(res.topics, (tw, t) => {
    tw.string(t.name)
    tw.array(t.partitions, (pw, p) => {
      pw.int32(p.partitionIndex)
      pw.int16(p.errorCode)
    })
  })
}

export const offsetCommitApi: ApiSpec = {
  key: 8,
  name: 'OffsetCommit',
  minVersion: 0,
  maxVersion: 7,
  flexibleFrom: null,
  async handle(ctx, request) {
    const req = decodeOffsetCommitRequest(request, ctx.apiVersion)
    const topics = ctx.services.topics
    const partitionExists = (topic: string, partition: number): boolean => {
      const n = topics.partitions(topic)
      return n !== null && partition >= 0 && partition < n
    }
    const res = await ctx.services.groups.commitOffsets(req, partitionExists)
    return body((w) => encodeOffsetCommitResponse(w, ctx.apiVersion, res))
  },
}
