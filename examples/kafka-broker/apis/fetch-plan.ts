// Planning a Fetch response: one `slice` per requested partition, in request order,
// within the response's byte budget. Nothing is read yet: each slice knows its size, so
// the response's frame length is exact before a byte moves (DESIGN.md §3 "slice +
// sendTo"). KIP-74: the first batch of the first partition that has data comes whole even
// past the limits, so a consumer always makes progress; later partitions only get what
// fits. The high watermark is read after slicing (it only grows), so it is never below
// the slice's end.
import type { LogSlice, PartitionLog } from '../../../ts/index'
import { ErrorCode } from '../protocol/error-codes'
import type { TopicStore } from './api'
import type { FetchRequest } from './fetch-request'

export interface PlannedPartition {
  readonly partition: number
  readonly errorCode: number
  readonly highWatermark: number
  readonly logStartOffset: number
  /** The log and its planned slice, or null when nothing is sent for this partition. */
  readonly data: { readonly log: PartitionLog; readonly slice: LogSlice } | null
}
export interface PlannedTopic {
  readonly name: string
  readonly partitions: PlannedPartition[]
}
export interface FetchPlan {
  readonly topics: PlannedTopic[]
  /** Record bytes planned in all. */
  readonly recordBytes: number
  /** True when some partition answers with an error (Kafka then answers at once). */
  readonly hasError: boolean
}

export function releasePlan(plan: FetchPlan): void {
  for (const t of plan.topics) for (const p of t.partitions) p.data?.slice.release()
}

function refused(partition: number, errorCode: number, log: PartitionLog | null): PlannedPartition {
  return { partition, errorCode, highWatermark: log?.highWatermark ?? -1, logStartOffset: log?.logStartOffset ?? -1, data: null }
}

function empty(partition: number, log: PartitionLog): PlannedPartition {
  return { partition, errorCode: ErrorCode.NONE, highWatermark: log.highWatermark, logStartOffset: log.logStartOffset, data: null }
}

export async function planFetch(topics: TopicStore, req: FetchRequest): Promise<FetchPlan> {
  const planned: PlannedTopic[] = []
  let budget = Math.max(0, req.maxBytes)
  let recordBytes = 0
  let hasError = false
  try {
    for (const t of req.topics) {
      const partitions: PlannedPartition[] = []
      planned.push({ name: t.name, partitions })
      for (const p of t.partitions) {
        const log = topics.log(t.name, p.partition)
        if (log === null) {
          hasError = true
          partitions.push(refused(p.partition, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, null))
          continue
        }
        if (p.fetchOffset < log.logStartOffset || p.fetchOffset > log.logEndOffset) {
          hasError = true
          partitions.push(refused(p.partition, ErrorCode.OFFSET_OUT_OF_RANGE, log))
          continue
        }
        const limit = Math.min(Math.max(0, p.partitionMaxBytes), budget)
        // Only the first partition with data may go over its limit (KIP-74).
        if (limit === 0 && recordBytes > 0) {
          partitions.push(empty(p.partition, log))
          continue
        }
        let slice: LogSlice
        try {
          slice = await log.slice(p.fetchOffset, { maxBytes: Math.max(1, limit) })
        } catch (err) {
          // Retention may have moved the start between the check and the slice.
          if ((err as { code?: unknown }).code !== 'ERR_OFFSET_OUT_OF_RANGE') throw err
          hasError = true
          partitions.push(refused(p.partition, ErrorCode.OFFSET_OUT_OF_RANGE, log))
          continue
        }
        if (slice.bytes === 0 || (slice.bytes > limit && recordBytes > 0)) {
          slice.release()
          partitions.push(empty(p.partition, log))
          continue
        }
        recordBytes += slice.bytes
        budget = Math.max(0, budget - slice.bytes)
        partitions.push({ partition: p.partition, errorCode: ErrorCode.NONE, highWatermark: log.highWatermark, logStartOffset: log.logStartOffset, data: { log, slice } })
      }
    }
  } catch (err) {
    releasePlan({ topics: planned, recordBytes, hasError })
    throw err
  }
  return { topics: planned, recordBytes, hasError }
}
