// ApiVersions (18), versions 0–3 (ApiVersionsRequest/Response.json; v3 is flexible: the
// request header is v2, the body has compact arrays and tagged fields, but the response
// header stays v0). A request of a version above 3 is answered in the v0 layout with
// UNSUPPORTED_VERSION and ApiVersions' own range, so the client retries lower (KIP-511).
import { ApiKey } from '../protocol/api-keys'
import { ErrorCode } from '../protocol/error-codes'
import type { Reader, Writer } from '../protocol/types'
import { BufferWriter } from '../protocol/writer'
import type { ApiResponse, ApiSpec, RequestContext } from './api'

export const API_VERSIONS_MIN = 0
export const API_VERSIONS_MAX = 3
const FIRST_FLEXIBLE = 3

type ApiRange = Pick<ApiSpec, 'key' | 'minVersion' | 'maxVersion'>

function sortedRanges(apis: readonly ApiRange[]): ApiRange[] {
  return [...apis].sort((a, b) => a.key - b.key)
}

function writeRangeV0(w: Writer, api: ApiRange): void {
  w.int16(api.key).int16(api.minVersion).int16(api.maxVersion)
}

/** The body of the answer to an ApiVersions request of a version we do not know (v0 layout). */
export function unsupportedApiVersionsBody(): Buffer {
  const ownRange: ApiRange = { key: ApiKey.ApiVersions, minVersion: API_VERSIONS_MIN, maxVersion: API_VERSIONS_MAX }
  return new BufferWriter(32).int16(ErrorCode.UNSUPPORTED_VERSION).array([ownRange], writeRangeV0).finish()
}

function encode(version: number, apis: readonly ApiRange[]): Buffer {
  const w = new BufferWriter(512)
  w.int16(ErrorCode.NONE)
  if (version >= FIRST_FLEXIBLE) {
    w.compactArray(apis, (iw, api) => {
      writeRangeV0(iw, api)
      iw.taggedFields()
    })
  } else {
    w.array(apis, writeRangeV0)
  }
  if (version >= 1) w.int32(0) // throttle time
  if (version >= FIRST_FLEXIBLE) w.taggedFields()
  return w.finish()
}

/** `listApis` is the whole table (ApiVersions included), read at each request. */
export function apiVersionsSpec(listApis: () => readonly ApiSpec[]): ApiSpec {
  return {
    key: ApiKey.ApiVersions,
    name: 'ApiVersions',
    minVersion: API_VERSIONS_MIN,
    maxVersion: API_VERSIONS_MAX,
    flexibleFrom: FIRST_FLEXIBLE,
    handle(ctx: RequestContext, request: Reader): Promise<ApiResponse> {
      if (ctx.apiVersion >= FIRST_FLEXIBLE) {
        // ClientSoftwareName and ClientSoftwareVersion: read so a malformed v3 body is
        // caught, not used (Kafka only logs them).
        request.compactString()
        request.compactString()
        request.taggedFields()
      }
      return Promise.resolve({ kind: 'body', body: encode(ctx.apiVersion, sortedRanges(listApis())) })
    },
  }
}
