// The API table: key → ApiSpec, made of this broker's produce/fetch/metadata specs and
// the group coordinator's specs (K2's `groupApis`, passed in by broker.ts so this module
// does not depend on groups/). The connection loop looks every request up here; an API
// that is not in the table closes the connection (DESIGN.md §8).
import type { ApiSpec } from './api'
import { apiVersionsSpec } from './api-versions'
import { fetchSpec } from './fetch'
import { listOffsetsSpec } from './list-offsets'
import { metadataSpec } from './metadata'
import { produceSpec } from './produce'

export interface ApiTable {
  get(apiKey: number): ApiSpec | undefined
  readonly all: readonly ApiSpec[]
  /** True when `version` of `apiKey` uses tagged fields (request header v2). */
  isFlexible(apiKey: number, version: number): boolean
}

export function buildApiTable(extra: readonly ApiSpec[]): ApiTable {
  const byKey = new Map<number, ApiSpec>()
  const all: ApiSpec[] = []
  const add = (spec: ApiSpec): void => {
    const clash = byKey.get(spec.key)
    if (clash !== undefined) throw new Error(`API key ${spec.key} is registered twice (${clash.name} and ${spec.name})`)
    if (spec.minVersion > spec.maxVersion) throw new Error(`${spec.name}: minVersion ${spec.minVersion} > maxVersion ${spec.maxVersion}`)
    byKey.set(spec.key, spec)
    all.push(spec)
  }
  add(apiVersionsSpec(() => all))
  add(metadataSpec)
  add(produceSpec)
  add(fetchSpec)
  add(listOffsetsSpec)
  for (const spec of extra) add(spec)
  all.sort((a, b) => a.key - b.key)
  return {
    get: (apiKey) => byKey.get(apiKey),
    all,
    isFlexible(apiKey, version) {
      const spec = byKey.get(apiKey)
      // An unknown key's header is read as v1: only its correlation id matters (the log line).
      return spec !== undefined && spec.flexibleFrom !== null && version >= spec.flexibleFrom
    },
  }
}
