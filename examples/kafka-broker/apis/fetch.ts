// Fetch (1), versions 4–11 (FetchRequest/Response.json; v12+ is flexible and not
// offered). Sessionless (session id 0), long-polled: while the planned bytes are below
// minBytes the handler waits, up to maxWaitMs, for any requested partition's high
// watermark to move (`waitFor`), then plans again. The answer is a 'pieces' response:
// encoded bytes between the partitions' slices, which the connection sends zero-copy
// behind them (`sendTo` with the preceding bytes as `prefix`).
import { setTimeout as sleep } from 'node:timers/promises'

import type { LogSlice, PartitionLog } from '../../../ts/index'
import { ApiKey } from '../protocol/api-keys'
import { ErrorCode } from '../protocol/error-codes'
import type { Reader } from '../protocol/types'
import { BufferWriter } from '../protocol/writer'
import type { ApiResponse, ApiSpec, RequestContext, TopicStore } from './api'
import { planFetch, releasePlan, type FetchPlan } from './fetch-plan'
import { decodeFetchRequest, type FetchRequest } from './fetch-request'

/** Kafka caps a consumer's wait at its own request timeout; this keeps a bad value from pinning a request for days. */
const MAX_WAIT_MS = 5 * 60_000

/** The partitions' logs and the high watermark each was planned at (what "new data" means). */
function watched(topics: TopicStore, req: FetchRequest): Array<{ log: PartitionLog; seenHighWatermark: number }> {
  const out: Array<{ log: PartitionLog; seenHighWatermark: number }> = []
  for (const t of req.topics) {
    for (const p of t.partitions) {
      const log = topics.log(t.name, p.partition)
      if (log !== null) out.push({ log, seenHighWatermark: log.highWatermark })
    }
  }
  return out
}

/**
 * True when any watched log's high watermark passed what was seen; false at the deadline,
 * on abort, or when the logs close. With no log to watch (a fetch of no partitions) it
 * sleeps to the deadline: returning at once would make the long poll a loop of
 * microtasks that starves the event loop — and with it the abort that should end it.
 */
async function waitForAny(logs: ReturnType<typeof watched>, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  if (timeoutMs <= 0 || signal.aborted) return false
  if (logs.length === 0) {
    await sleep(timeoutMs, undefined, { signal }).catch(() => undefined)
    return false
  }
  const round = new AbortController()
  const onAbort = (): void => round.abort()
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await Promise.race(logs.map(({ log, seenHighWatermark }) => log.waitFor(seenHighWatermark, { timeoutMs, signal: round.signal }).catch(() => false)))
  } finally {
    signal.removeEventListener('abort', onAbort)
    round.abort() // the other waits end now, not at their timeout
  }
}

async function longPoll(ctx: RequestContext, req: FetchRequest): Promise<FetchPlan> {
  const deadline = Date.now() + Math.min(Math.max(0, req.maxWaitMs), MAX_WAIT_MS)
  for (;;) {
    const logs = watched(ctx.services.topics, req)
    const plan = await planFetch(ctx.services.topics, req)
    const leftMs = deadline - Date.now()
    if (plan.recordBytes >= req.minBytes || plan.hasError || leftMs <= 0 || ctx.signal.aborted) return plan
    releasePlan(plan)
    // Only new data is worth another round; otherwise (deadline, abort, closed logs) the
    // answer is what there is now — never a loop that does not wait.
    if (!(await waitForAny(logs, leftMs, ctx.signal))) return planFetch(ctx.services.topics, req)
  }
}

function encode(version: number, plan: FetchPlan, topErrorCode: number): ApiResponse {
  const pieces: Array<Buffer | { log: PartitionLog; slice: LogSlice }> = []
  // Plain loops, not Writer.array: the writer is replaced after each record set, and
  // array's callback would keep writing into the finished one (the bytes of every later
  // partition lost from the frame).
  let w = new BufferWriter(256)
  w.int32(0) // throttle time
  if (version >= 7) w.int16(topErrorCode).int32(0) // error, session id 0: sessionless
  w.int32(plan.topics.length)
  for (const t of plan.topics) {
    w.string(t.name)
    w.int32(t.partitions.length)
    for (const p of t.partitions) {
      w.int32(p.partition).int16(p.errorCode).int64(p.highWatermark)
      w.int64(p.highWatermark) // last stable offset: no transactions, so the high watermark
      if (version >= 5) w.int64(p.logStartOffset)
      w.int32(-1) // aborted transactions: null
      if (version >= 11) w.int32(-1) // preferred read replica: none
      w.int32(p.data?.slice.bytes ?? 0) // the record set's length, then its bytes
      if (p.data !== null) {
        pieces.push(w.finish(), p.data)
        w = new BufferWriter(256)
      }
    }
  }
  if (pieces.length === 0) return { kind: 'body', body: w.finish() }
  pieces.push(w.finish())
  return { kind: 'pieces', pieces }
}

export const fetchSpec: ApiSpec = {
  key: ApiKey.Fetch,
  name: 'Fetch',
  minVersion: 4,
  maxVersion: 11,
  flexibleFrom: null,
  async handle(ctx: RequestContext, request: Reader): Promise<ApiResponse> {
    const req = decodeFetchRequest(request, ctx.apiVersion)
    if (req.sessionId !== 0) {
      // We never hand out a session id, so an incremental fetch names one we do not have.
      return encode(ctx.apiVersion, { topics: [], recordBytes: 0, hasError: true }, ErrorCode.FETCH_SESSION_ID_NOT_FOUND)
    }
    const plan = await longPoll(ctx, req)
    try {
      return encode(ctx.apiVersion, plan, ErrorCode.NONE)
    } catch (err) {
      releasePlan(plan)
      throw err
    }
  },
}
