// FindCoordinator (key 10), versions 0–2 (FindCoordinatorRequest.json /
// FindCoordinatorResponse.json): v1 adds KeyType (0 group, 1 transaction),
// ThrottleTimeMs and ErrorMessage. One node coordinates everything: the answer is always
// this broker. All non-flexible.
import type { Reader, Writer } from '../protocol/types'
import { ErrorCode } from '../groups/error-codes'
import type { ApiSpec } from './api'
import { NO_THROTTLE_MS, body } from './codec-helpers'

export const KEY_TYPE_GROUP = 0
export const KEY_TYPE_TRANSACTION = 1

export interface FindCoordinatorRequest {
  readonly key: string
  readonly keyType: number
}

export interface FindCoordinatorResult {
  readonly errorCode: number
  readonly errorMessage: string | null
  readonly nodeId: number
  readonly host: string
  readonly port: number
}

export function decodeFindCoordinatorRequest(r: Reader, version: number): FindCoordinatorRequest {
  const key = r.string()
  return { key, keyType: version >= 1 ? r.int8() : KEY_TYPE_GROUP }
}

export function findCoordinator(req: FindCoordinatorRequest, node: { nodeId: number; host: string; port: number }): FindCoordinatorResult {
  if (req.keyType !== KEY_TYPE_GROUP && req.keyType !== KEY_TYPE_TRANSACTION) {
    return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `unknown key type ${req.keyType}`, nodeId: -1, host: '', port: -1 }
  }
  return { errorCode: ErrorCode.NONE, errorMessage: null, ...node }
}

export function encodeFindCoordinatorResponse(w: Writer, version: number, res: FindCoordinatorResult): void {
  if (version >= 1) w.int32(NO_THROTTLE_MS)
  w.int16(res.errorCode)
  if (version >= 1) w.nullableString(res.errorMessage)
  w.int32(res.nodeId)
  w.string(res.host)
  w.int32(res.port)
}

export const findCoordinatorApi: ApiSpec = {
  key: 10,
  name: 'FindCoordinator',
  minVersion: 0,
  maxVersion: 2,
  flexibleFrom: null,
  // async: a malformed request rejects (the connection closes it) rather than throwing.
  async handle(ctx, request) {
    const req = decodeFindCoordinatorRequest(request, ctx.apiVersion)
    const s = ctx.services
    const res = findCoordinator(req, { nodeId: s.nodeId, host: s.advertisedHost, port: s.advertisedPort })
    return body((w) => encodeFindCoordinatorResponse(w, ctx.apiVersion, res))
  },
}
