// InitProducerId (key 22), versions 0–1 (InitProducerIdRequest.json /
// InitProducerIdResponse.json): a producer id for an idempotent producer, durable in the
// state WAL before the answer so no id is ever handed out twice. Sequence numbers are
// not checked by this broker (DESIGN.md §8 allows leaving them out). Non-flexible.
import type { Reader, Writer } from '../protocol/types'
import { ErrorCode } from '../groups/error-codes'
import type { ApiSpec, ProducerIdManager } from './api'
import { NO_THROTTLE_MS, body } from './codec-helpers'

/** Kafka's transaction.max.timeout.ms default (15 min). */
export const MAX_TRANSACTION_TIMEOUT_MS = 15 * 60 * 1000
const INVALID_TRANSACTION_TIMEOUT = 50

export interface InitProducerIdRequest {
  readonly transactionalId: string | null
  readonly transactionTimeoutMs: number
}

export interface InitProducerIdResult {
  readonly errorCode: number
  readonly producerId: number
  readonly producerEpoch: number
}

export function decodeInitProducerIdRequest(r: Reader): InitProducerIdRequest {
  return { transactionalId: r.nullableString(), transactionTimeoutMs: r.int32() }
}

export async function initProducerId(req: InitProducerIdRequest, ids: ProducerIdManager, log: (line: string) => void): Promise<InitProducerIdResult> {
  if (req.transactionalId !== null && (req.transactionTimeoutMs <= 0 || req.transactionTimeoutMs > MAX_TRANSACTION_TIMEOUT_MS)) {
    return { errorCode: INVALID_TRANSACTION_TIMEOUT, producerId: -1, producerEpoch: -1 }
  }
  try {
    const { producerId, producerEpoch } = await ids.next(req.transactionalId)
    return { errorCode: ErrorCode.NONE, producerId, producerEpoch }
  } catch (err) {
    // Not durable, so not handed out; the error is retriable.
    log(`InitProducerId failed: ${err instanceof Error ? err.message : String(err)}`)
    return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, producerId: -1, producerEpoch: -1 }
  }
}

export function encodeInitProducerIdResponse(w: Writer, res: InitProducerIdResult): void {
  w.int32(NO_THROTTLE_MS)
  w.int16(res.errorCode)
  w.int64(res.producerId)
  w.int16(res.producerEpoch)
}

export const initProducerIdApi: ApiSpec = {
  key: 22,
  name: 'InitProducerId',
  minVersion: 0,
  maxVersion: 1,
  flexibleFrom: null,
  async handle(ctx, request) {
    const res = await initProducerId(decodeInitProducerIdRequest(request), ctx.services.producerIds, ctx.services.logger)
    return body((w) => encodeInitProducerIdResponse(w, res))
  },
}
