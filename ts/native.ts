// Loads the Node-API addon (crates/binding) and types its JavaScript surface, which
// docs/ARCHITECTURE.md §2 describes (the one description; these types follow it). A
// missing addon is an ordinary outcome: the library then runs on the standard backend
// and says why. The loader reads the addon's protocol() once, at load, and keeps it
// (frozen) with the addon: its wire part (kinds, descriptor layout, flags,
// RESULT_RING_FAILED) is read only by ts/backends/native.ts, its limits are what
// ts/config.ts checks settings against.
import path from 'node:path'

export type ProbeResult =
  | { ok: true; opcodes: string[]; missing: string[]; features: string[]; setupFlags: string[] }
  | { ok: false; errno: number; /** Set when the addon itself explains (built without io_uring). */ reason?: string }

export type EngineMode = 'inline' | 'thread'

export interface EngineOptions {
  sqDepth: number
  cqDepth: number
  queueCapacity: number
  fixedFileSlots: number
  fixedBufferSlots?: number
  sqpoll?: boolean
  testSetupErrno: number
  testFailAfter: number
  mode?: EngineMode
}

/** The bounds of createEngine's options and of descriptor fields (`protocol().limits`). */
export interface ProtocolLimits {
  maxSqDepth: number
  maxCqEntries: number
  maxQueueCapacity: number
  maxFixedFileSlots: number
  maxFixedBufferSlots: number
  maxTransferBytes: number
  maxAlignedBytes: number
}

/** `protocol()`: the wire protocol, defined once in crates/binding/src/protocol.rs. */
export interface Protocol {
  stride: number
  fields: string[]
  kinds: Record<string, number>
  flags: { link: number }
  resultRingFailed: number
  limits: ProtocolLimits
}

/**
 * What an engine's ring was set up with (crates/uring `RingInfo`), as `engineInfo(engine)`
 * returns it (null once the engine is destroyed). Optional: ts/ shows it where an addon
 * has it (io.kernel.ring, `streamline-io info`).
 */
export interface EngineInfo {
  sqEntries: number
  cqEntries: number
  /** IORING_SETUP_* flags in use, by name (after the addon's fallbacks). */
  setupFlags: string[]
  /** IORING_FEAT_* features of the ring, by name. */
  features: string[]
  fixedFileSlots: number
  /** errno (positive) of a refused fixed-file table; null when none was refused. */
  fixedFilesErrno: number | null
  fixedBufferSlots: number
  fixedBuffersErrno: number | null
  /** Whether ftruncate goes through IORING_OP_FTRUNCATE (else ftruncate(2) off the ring). */
  ftruncateOp: boolean
}

/** An engine handle: one ring (and, in thread mode, its thread). Opaque to JavaScript. */
export type EngineHandle = object & { readonly __engine: unique symbol }

export interface NativeAddon {
  kernelRelease(): string
  probe(entries: number, testSetupErrno: number): ProbeResult
  createEngine(opts: EngineOptions, onComplete: (results: Float64Array) => void): EngineHandle
  submit(engine: EngineHandle, desc: Float64Array, extras: Array<Uint8Array | string | undefined>): Float64Array | undefined
  destroy(engine: EngineHandle): void
  strerror(errno: number): string
  protocol(): Protocol
  // Optional: an addon built before these existed lacks them (check before calling).
  crc32c?(data: Uint8Array, previous: number): number
  flock?(fd: number, exclusive: boolean, nonBlocking: boolean): number
  funlock?(fd: number): number
  fadviseDontNeed?(fd: number, offset: number, len: number): number
  fixedOps?(engine: EngineHandle): number
  allocAligned?(size: number): Buffer
  bufferAddress?(buf: Uint8Array): number
  dioAlignment?(fd: number): Float64Array | null | number
  engineInfo?(engine: EngineHandle): EngineInfo | null
}

/**
 * The limits when no addon is loaded (the standard backend without it), so a setting is
 * bounded the same on every backend. Equal to crates/binding/src/protocol.rs `limits`
 * (protocol.spec.ts asserts it against the loaded addon's protocol().limits).
 */
export const FALLBACK_LIMITS: Readonly<ProtocolLimits> = Object.freeze({
  maxSqDepth: 32_768,
  maxCqEntries: 65_536,
  maxQueueCapacity: 65_535,
  maxFixedFileSlots: 1 << 20,
  maxFixedBufferSlots: 16_384,
  maxTransferBytes: 0x7fff_f000,
  maxAlignedBytes: 1 << 30,
})

const LIMIT_NAMES = Object.keys(FALLBACK_LIMITS) as Array<keyof ProtocolLimits>

/** Limits and where they came from: the loaded addon's protocol(), or FALLBACK_LIMITS. */
export interface Limits {
  values: Readonly<ProtocolLimits>
  from: 'addon' | 'fallback'
}

const TRIPLE = `${process.platform}-${process.arch}${process.platform === 'linux' ? '-gnu' : ''}`
const BINARY = `streamline-io.${TRIPLE}.node`

export type AddonLoad =
  | { addon: NativeAddon; protocol: Readonly<Protocol>; from: string }
  | { addon: null; reason: string }

const REQUIRED_EXPORTS = ['kernelRelease', 'probe', 'createEngine', 'submit', 'destroy', 'strerror', 'protocol'] as const

let loaded: AddonLoad | undefined

/**
 * Why `p` is not a protocol() whose limits this loader can hand out, or null. The wire
 * part (kinds, layout, flags, RESULT_RING_FAILED) is ts/backends/native.ts's to check.
 */
function malformed(p: unknown): string | null {
  const o = p as Partial<Protocol> | null
  if (o === null || typeof o !== 'object') return 'protocol() returned no object'
  const missing = LIMIT_NAMES.filter((k) => !(Number.isSafeInteger(o.limits?.[k]) && o.limits![k] > 0))
  if (missing.length > 0) return `protocol().limits lacks ${missing.join(', ')}`
  return null
}

/**
 * The addon, from the repository build (`napi build --platform`) or the per-platform
 * package (`@streamline/io-<triple>`), with its protocol(). `disabled` (the test hook
 * STREAMLINE_IO_TEST_NO_ADDON, resolved by ts/config.ts) behaves as if neither existed.
 */
export function loadAddon(opts: { disabled?: boolean } = {}): AddonLoad {
  if (opts.disabled === true) {
    return { addon: null, reason: 'the native addon is disabled by the test hook STREAMLINE_IO_TEST_NO_ADDON=1' }
  }
  if (loaded) return loaded
  const candidates = [path.join(__dirname, '..', '..', BINARY), `@streamline/io-${TRIPLE}`]
  const failures: string[] = []
  for (const candidate of candidates) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const addon = require(candidate) as NativeAddon
      // A stale build from another version would fail later in confusing ways.
      const missing = REQUIRED_EXPORTS.filter((name) => typeof (addon as unknown as Record<string, unknown>)[name] !== 'function')
      if (missing.length > 0) {
        failures.push(`${candidate} lacks ${missing.join(', ')} (a stale build? run 'npm run build:native')`)
        continue
      }
      const protocol = addon.protocol()
      const bad = malformed(protocol)
      if (bad !== null) {
        failures.push(`${candidate}: ${bad} (a stale build? run 'npm run build:native')`)
        continue
      }
      return (loaded = { addon, protocol: deepFreeze(protocol), from: candidate })
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      failures.push(e.code === 'MODULE_NOT_FOUND' ? `${candidate} not found` : `${candidate}: ${e.message.split('\n')[0]}`)
    }
  }
  return (loaded = {
    addon: null,
    reason: `no native addon for ${TRIPLE} (${failures.join('; ')}); build it with 'npm run build:native'`,
  })
}

/** The limits settings are bounded by: the addon's, or FALLBACK_LIMITS without one. */
export function limitsOf(load: AddonLoad): Limits {
  return load.addon === null ? { values: FALLBACK_LIMITS, from: 'fallback' } : { values: load.protocol.limits, from: 'addon' }
}

function deepFreeze<T extends object>(o: T): Readonly<T> {
  for (const v of Object.values(o)) if (v !== null && typeof v === 'object') deepFreeze(v as object)
  return Object.freeze(o)
}
