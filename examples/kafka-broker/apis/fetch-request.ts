// Fetch request decoding, versions 4–11 (FetchRequest.json). Sessionless: the session
// fields are read so the rest of the body lines up, and checked by the handler.
import type { Reader } from '../protocol/types'

export interface FetchPartitionRequest {
  readonly partition: number
  readonly fetchOffset: number
  readonly partitionMaxBytes: number
}
export interface FetchTopicRequest {
  readonly name: string
  readonly partitions: FetchPartitionRequest[]
}
export interface FetchRequest {
  readonly maxWaitMs: number
  readonly minBytes: number
  readonly maxBytes: number
  readonly sessionId: number
  readonly sessionEpoch: number
  readonly topics: FetchTopicRequest[]
}

export function decodeFetchRequest(r: Reader, version: number): FetchRequest {
  r.int32() // replica id: every fetcher is treated as a consumer
  const maxWaitMs = r.int32()
  const minBytes = r.int32()
  const maxBytes = r.int32() // v3+
  r.int8() // isolation level: high watermark = last stable offset here, so both read the same
  const sessionId = version >= 7 ? r.int32() : 0
  const sessionEpoch = version >= 7 ? r.int32() : -1
  const topics = r.array((tr) => ({
    name: tr.string(),
    partitions: tr.array((pr) => {
      const partition = pr.int32()
      if (version >= 9) pr.int32() // current leader epoch: we report −1, nothing to fence
      const fetchOffset = pr.int64()
      if (version >= 5) pr.int64() // the follower's log start offset
      return { partition, fetchOffset, partitionMaxBytes: pr.int32() }
    }),
  }))
  if (version >= 7) {
    // Forgotten topics: only incremental sessions have any.
    r.array((fr) => {
      fr.string()
      fr.array((pr) => pr.int32())
    })
  }
  if (version >= 11) r.string() // rack id
  return { maxWaitMs, minBytes, maxBytes, sessionId, sessionEpoch, topics }
}
