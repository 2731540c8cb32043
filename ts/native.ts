// Loads the Node-API addon (crates/binding) and types its JavaScript surface, which
// docs/ARCHITECTURE.md §2 describes (the one description; these types follow it). A
// missing addon is an ordinary outcome: the library then runs on the standard backend
// and says why. The loader reads the addon's protocol() once, at load, and keeps it
// (frozen) with the addon: its wire part (kinds, descriptor layout, flags,
// RESULT_RING_FAILED) is read only by ts/backends/native.ts, its limits are what
// ts/config.ts checks settings against.
import fs from 'node:fs'
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
  /** Whether sendFile can run on the ring: SPLICE, POLL_ADD and ASYNC_CANCEL all supported. */
  spliceOp?: boolean
}

/** `sendStats(engine)`: the engine's splice transfers (null once the engine is destroyed). */
export interface SendStats {
  polls: number
  pipesOpen: number
  pipeBytes: number
}

/** An engine handle: one ring (and, in thread mode, its thread). Opaque to JavaScript. */
export type EngineHandle = object & { readonly __engine: unique symbol }
/** A pollWritable wait. Opaque to JavaScript. */
export type PollHandle = object & { readonly __pollWritable: unique symbol }

export interface NativeAddon {
  kernelRelease(): string
  probe(entries: number, testSetupErrno: number): ProbeResult
  createEngine(opts: EngineOptions, onComplete: (results: Float64Array) => void): EngineHandle
  submit(engine: EngineHandle, desc: Float64Array, extras: Array<Uint8Array | string | undefined>): Float64Array | undefined
  destroy(engine: EngineHandle): void
  strerror(errno: number): string
  protocol(): Protocol
  /** The version the addon was built as (the workspace's = package.json's). */
  version(): string
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
  dupFd?(fd: number): number
  closeFd?(fd: number): number
  sendfile?(outFd: number, inFd: number, offset: number, len: number): Promise<Float64Array>
  pollWritable?(fd: number, cb: () => void): PollHandle
  pollClose?(handle: PollHandle): void
  sendStats?(engine: EngineHandle): SendStats | null
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

/**
 * The platform's napi-rs target name (`platformArchABI`), the suffix of the binary's
 * file name and of its package: linux-x64-gnu, linux-arm64-musl, darwin-arm64,
 * win32-x64-msvc, … Only the targets in package.json's `napi.targets` are published.
 */
export function platformTarget(platform: string = process.platform, arch: string = process.arch, musl: () => boolean = isMusl): string {
  if (platform === 'linux') return `linux-${arch}-${musl() ? 'musl' : arch === 'arm' ? 'gnueabihf' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/** Whether this Node runs on musl libc (napi-rs's loader asks the same: ldd, then the report). */
function isMusl(): boolean {
  try {
    return fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header
    return header !== undefined && header.glibcVersionRuntime === undefined
  }
}

/** The package's root (two levels above dist/ts/native.js) and its package.json facts. */
const PACKAGE_ROOT = path.join(__dirname, '..', '..')

interface PackageFacts {
  name: string
  version: string
  /** napi.binaryName: the binary is `<binaryName>.<target>.node`. */
  binaryName: string
  optionalDependencies: Record<string, string>
}

function packageFacts(): PackageFacts {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as Partial<PackageFacts> & { napi?: { binaryName?: string } }
    return {
      name: pkg.name ?? '@streamline/io',
      version: pkg.version ?? '',
      binaryName: pkg.napi?.binaryName ?? 'streamline-io',
      optionalDependencies: pkg.optionalDependencies ?? {},
    }
  } catch (err) {
    // dist/ copied without its package.json: no version to match, so no binary is loaded.
    return { name: '@streamline/io', version: `unknown (${PACKAGE_ROOT}/package.json: ${(err as Error).message})`, binaryName: 'streamline-io', optionalDependencies: {} }
  }
}

export type AddonLoad =
  | { addon: NativeAddon; protocol: Readonly<Protocol>; from: string }
  | { addon: null; reason: string }

const REQUIRED_EXPORTS = ['kernelRelease', 'probe', 'createEngine', 'submit', 'destroy', 'strerror', 'protocol', 'version'] as const

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
 * Checks a required module as the addon of version `expected`: the exports ts/ needs,
 * its own `version()` and its protocol(). Returns the addon with its (frozen) protocol,
 * or why it cannot be used, in words that follow the binary's name.
 */
export function checkAddon(module: unknown, expected: string): { addon: NativeAddon; protocol: Readonly<Protocol> } | string {
  const exports = (module ?? {}) as Record<string, unknown>
  const missing = REQUIRED_EXPORTS.filter((name) => typeof exports[name] !== 'function')
  if (missing.length > 0) return `lacks ${missing.join(', ')} (a build from before version ${expected || 'this one'})`
  const addon = module as NativeAddon
  const version = addon.version()
  if (version !== expected) return `is version ${String(version)}, not ${expected} (the version of @streamline/io that loads it)`
  const protocol = addon.protocol()
  const bad = malformed(protocol)
  if (bad !== null) return bad
  return { addon, protocol: deepFreeze(protocol) }
}

/** Where a load failed: the message of a require() error, without its stack of requirers. */
function requireFailure(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  return `cannot be loaded: ${(e?.message ?? String(err)).split('\n')[0]}`
}

/**
 * The addon — a local build (`napi build --platform` writes `streamline-io.<target>.node`
 * at the package root) first, then the platform package `@streamline/io-<target>` (an
 * optional dependency) — with its protocol(). Either must be the package's own version
 * (the binary's `version()`; for the platform package also its package.json), else it
 * is not loaded. Without one the reason names each binary looked for and why it did not
 * load; openIo() then runs the standard backend with it as `fallbackReason`. `disabled`
 * (the test hook STREAMLINE_IO_TEST_NO_ADDON, resolved by ts/config.ts) behaves as if
 * neither existed.
 */
export function loadAddon(opts: { disabled?: boolean } = {}): AddonLoad {
  if (opts.disabled === true) {
    return { addon: null, reason: 'the native addon is disabled by the test hook STREAMLINE_IO_TEST_NO_ADDON=1' }
  }
  if (loaded) return loaded
  const pkg = packageFacts()
  const target = platformTarget()
  const binary = `${pkg.binaryName}.${target}.node`
  const failures: string[] = []
  const accept = (module: unknown, from: string): AddonLoad | null => {
    const checked = checkAddon(module, pkg.version)
    if (typeof checked === 'string') {
      failures.push(`${from} ${checked}`)
      return null
    }
    return { ...checked, from }
  }

  // 1. A local build: this repository's `npm run build:native`, or one made from source.
  const local = path.join(PACKAGE_ROOT, binary)
  if (fs.existsSync(local)) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const got = accept(require(local), local)
      if (got !== null) return (loaded = got)
    } catch (err) {
      failures.push(`${local} ${requireFailure(err)}`)
    }
  } else {
    failures.push(`${local} not found (no local build: a source build, npm run build:native, writes it there)`)
  }

  // 2. The prebuilt platform package.
  const platformPackage = `${pkg.name}-${target}`
  let manifest: string | null = null
  try {
    manifest = require.resolve(`${platformPackage}/package.json`, { paths: [PACKAGE_ROOT] })
  } catch {
    failures.push(
      Object.hasOwn(pkg.optionalDependencies, platformPackage)
        ? `${platformPackage} is not installed (an optional dependency of ${pkg.name}: installed with --omit=optional or --no-optional?)`
        : `${platformPackage} does not exist (no prebuilt binary is published for ${target}; on Linux build one from source, see the README)`,
    )
  }
  if (manifest !== null) {
    const file = path.join(path.dirname(manifest), binary)
    let version: unknown
    try {
      version = (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version?: unknown }).version
    } catch (err) {
      version = `unreadable (${(err as Error).message})`
    }
    if (version !== pkg.version) {
      failures.push(`${file} is from ${platformPackage}@${String(version)}, not ${pkg.version} (reinstall ${pkg.name} so the two versions match)`)
    } else if (!fs.existsSync(file)) {
      failures.push(`${file} not found (${platformPackage} is installed without its binary)`)
    } else {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const got = accept(require(file), file)
        if (got !== null) return (loaded = got)
      } catch (err) {
        failures.push(`${file} ${requireFailure(err)}`)
      }
    }
  }
  return (loaded = {
    addon: null,
    reason: `no usable native addon for ${target} (${pkg.name} ${pkg.version}): ${failures.join('; ')}`,
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
