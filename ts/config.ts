// Configuration: defaults < environment (STREAMLINE_IO_*) < argv flags < explicit
// overrides (DESIGN.md §3). Every value remembers where it came from, so errors and
// `streamline-io info` can say so. Bounds that are the native layer's (queue capacity,
// SQ and CQ sizes, aligned buffer size) are the addon's protocol().limits, or the
// documented FALLBACK_LIMITS (ts/native.ts) when no addon is loaded — the same bound on
// both backends. The settings that only the environment sets (STREAMLINE_IO_ENGINE and
// the STREAMLINE_IO_TEST_* hooks) are resolved here too, with their sources, and passed
// down: nothing below this file reads process.env.
import os from 'node:os'
import { limitsOf, loadAddon, type AddonLoad, type EngineMode, type Limits, type ProtocolLimits } from './native'
import type { ConfigSource, IoConfig } from './types'

/** A native-layer limit a value was checked against. */
export interface Bound {
  /** The key in protocol().limits. */
  name: keyof ProtocolLimits
  value: number
  /** 'addon': the loaded addon's protocol(); 'fallback': FALLBACK_LIMITS (no addon). */
  from: Limits['from']
}

/** What is wrong with a value: words after "must …", and the limit they name, if any. */
type Problem = string | { text: string; bound: Bound }

interface Setting<K extends keyof IoConfig> {
  key: K
  env: string
  flag: string | null
  parse: (raw: string) => IoConfig[K] | undefined
  check: (value: IoConfig[K], limits: Limits) => Problem | null
}

const MiB = 1024 * 1024

/** The defaults of every setting (DESIGN.md §3; the README's configuration table). */
export const DEFAULT_CONFIG: Readonly<IoConfig> = Object.freeze({
  enableIoUring: true,
  sqDepth: 256,
  queueDepth: 1024,
  ioWorkers: 1,
  bufferPoolSize: 64,
  sizeClasses: [4096, 65536, 1048576],
  sqpoll: false,
  preallocateWal: true,
  preallocateSize: 64 * MiB,
})

// Limits: a bound on everything (TigerBeetle style). The native layer's come from the
// addon (see Bound); these are the library's own.
const IO_WORKERS_MAX = 64
const BUFFER_POOL_SIZE_MAX = 1 << 16

function parseBool(raw: string): boolean | undefined {
  const s = raw.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(s)) return true
  if (['false', '0', 'no', 'off'].includes(s)) return false
  return undefined
}

function parseInt_(raw: string): number | undefined {
  const s = raw.trim()
  if (!/^\d+$/.test(s)) return undefined
  return Number(s)
}

function parseList(raw: string): number[] | undefined {
  const parts = raw.split(',').map((p) => parseInt_(p))
  return parts.every((p): p is number => p !== undefined) ? parts : undefined
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0
const isInt = (v: number, min: number, max: number) => Number.isSafeInteger(v) && v >= min && v <= max
const intIn = (min: number, max: number) => (v: number) => (isInt(v, min, max) ? null : `must be an integer from ${min} to ${max}`)
const bound = (limits: Limits, name: keyof ProtocolLimits): Bound => ({ name, value: limits.values[name], from: limits.from })

/**
 * The CQ entries a ring gets for these settings: one CQE per operation in flight plus one
 * for the ring's own wake-up, never fewer than twice the SQ (the kernel's default ratio),
 * a power of two. ts/backends/native.ts asks createEngine for exactly this; resolveConfig
 * refuses settings for which it passes protocol().limits.maxCqEntries.
 */
export function cqEntriesFor(config: Pick<IoConfig, 'sqDepth' | 'queueDepth'>): number {
  let p = 1
  while (p < config.queueDepth + 1) p *= 2
  return Math.max(2 * config.sqDepth, p)
}

const SETTINGS: { [K in keyof IoConfig]: Setting<K> } = {
  enableIoUring: { key: 'enableIoUring', env: 'STREAMLINE_IO_URING', flag: '--enable-io-uring', parse: parseBool, check: (v) => (typeof v === 'boolean' ? null : 'must be true or false') },
  sqDepth: {
    key: 'sqDepth', env: 'STREAMLINE_IO_SQ_DEPTH', flag: '--io-uring-sq-depth', parse: parseInt_,
    check: (v, limits) => {
      const b = bound(limits, 'maxSqDepth')
      return isInt(v, 1, b.value) && isPow2(v) ? null : { text: `must be a power of two from 1 to ${b.value}`, bound: b }
    },
  },
  queueDepth: {
    key: 'queueDepth', env: 'STREAMLINE_IO_QUEUE_DEPTH', flag: '--io-queue-depth', parse: parseInt_,
    check: (v, limits) => {
      const b = bound(limits, 'maxQueueCapacity')
      return isInt(v, 1, b.value) ? null : { text: `must be an integer from 1 to ${b.value}`, bound: b }
    },
  },
  ioWorkers: { key: 'ioWorkers', env: 'STREAMLINE_IO_WORKERS', flag: '--io-workers', parse: parseInt_, check: intIn(1, IO_WORKERS_MAX) },
  bufferPoolSize: { key: 'bufferPoolSize', env: 'STREAMLINE_IO_BUFFER_POOL_SIZE', flag: '--io-buffer-pool-size', parse: parseInt_, check: intIn(0, BUFFER_POOL_SIZE_MAX) },
  sizeClasses: {
    key: 'sizeClasses', env: 'STREAMLINE_IO_SIZE_CLASSES', flag: null, parse: parseList,
    check: (v, limits) => {
      if (!Array.isArray(v) || v.length === 0) return 'must be a non-empty list of sizes'
      const b = bound(limits, 'maxAlignedBytes')
      for (let i = 0; i < v.length; i++) {
        const n = v[i]
        if (!Number.isSafeInteger(n) || n < 512 || n % 512 !== 0) return 'must hold multiples of 512 bytes'
        if (n > b.value) return { text: `must hold sizes of at most ${b.value} bytes (one aligned pool buffer)`, bound: b }
        if (i > 0 && n <= v[i - 1]) return 'must be in increasing order'
      }
      return null
    },
  },
  sqpoll: { key: 'sqpoll', env: 'STREAMLINE_IO_SQPOLL', flag: '--io-uring-sqpoll', parse: parseBool, check: (v) => (typeof v === 'boolean' ? null : 'must be true or false') },
  preallocateWal: { key: 'preallocateWal', env: 'STREAMLINE_IO_PREALLOCATE_WAL', flag: '--preallocate-wal', parse: parseBool, check: (v) => (typeof v === 'boolean' ? null : 'must be true or false') },
  preallocateSize: { key: 'preallocateSize', env: 'STREAMLINE_IO_PREALLOCATE_SIZE', flag: '--preallocate-size', parse: parseInt_, check: intIn(4096, Number.MAX_SAFE_INTEGER) },
}

/** The config flags the CLI accepts, with the setting each sets. */
export const CONFIG_FLAGS: ReadonlyMap<string, keyof IoConfig> = new Map(
  Object.values(SETTINGS).flatMap((s) => (s.flag === null ? [] : [[s.flag, s.key] as const])),
)

/** ERR_IO_CONFIG: a setting's value is refused; the message names it, its source and the bound. */
export class ConfigError extends Error {
  readonly code = 'ERR_IO_CONFIG'
  /** The setting (an IoConfig key, or the variable of an environment-only setting). */
  readonly setting?: string
  readonly source?: ConfigSource
  /** The native-layer limit the value passed, when that was the problem. */
  readonly bound?: Bound
  constructor(message: string, details: { setting?: string; source?: ConfigSource; bound?: Bound } = {}) {
    super(message)
    this.name = 'ConfigError'
    if (details.setting !== undefined) this.setting = details.setting
    if (details.source !== undefined) this.source = details.source
    if (details.bound !== undefined) this.bound = details.bound
  }
}

const sourceWords = (source: ConfigSource, setting: Setting<keyof IoConfig>): string => {
  switch (source) {
    case 'env': return `environment variable ${setting.env}`
    case 'argv': return `flag ${setting.flag}`
    case 'override': return `option ${setting.key}`
    case 'default': return 'default'
  }
}

const boundWords = (b: Bound): string =>
  b.from === 'addon'
    ? `the native addon's limit protocol().limits.${b.name}`
    : `protocol().limits.${b.name}; no native addon is loaded, so its documented fallback, the same number`

/** Reads `--flag value` and `--flag=value` pairs for the known flags; others are ignored. */
function argvValues(argv: readonly string[]): Map<string, string> {
  const found = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const eq = arg.indexOf('=')
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    if (!CONFIG_FLAGS.has(flag)) continue
    if (eq !== -1) found.set(flag, arg.slice(eq + 1))
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) found.set(flag, argv[++i])
    else {
      const setting = SETTINGS[CONFIG_FLAGS.get(flag)!]
      // A bare boolean flag means true; any other bare flag is missing its value.
      if (setting.parse === parseBool) found.set(flag, 'true')
      else throw new ConfigError(`${setting.key}: flag ${flag} needs a value`, { setting: setting.key, source: 'argv' })
    }
  }
  return found
}

/**
 * Settings only the environment sets: how the io_uring backend drives its ring, and the
 * test hooks (README "Test hooks"). STREAMLINE_IO_TEST_PANIC is not here: the addon
 * reads it itself, at createEngine.
 */
export interface EnvSettings {
  /** STREAMLINE_IO_ENGINE=inline|thread. */
  engine: EngineMode
  /** STREAMLINE_IO_TEST_SETUP_ERRNO (a name or number): ring setup and the probe fail with it; 0 = off. */
  testSetupErrno: number
  /** STREAMLINE_IO_TEST_KERNEL_RELEASE: the release detection sees; null = the real one. */
  testKernelRelease: string | null
  /** STREAMLINE_IO_TEST_PROC_STATUS: read instead of /proc/self/status (seccomp evidence); null = the real one. */
  testProcStatus: string | null
  /** STREAMLINE_IO_TEST_RING_FAIL_AFTER: the ring fails after this many requests; 0 = off. */
  testRingFailAfter: number
  /** STREAMLINE_IO_TEST_NO_ADDON=1: behave as if the native addon were missing. */
  testNoAddon: boolean
}

/**
 * The engine mode when STREAMLINE_IO_ENGINE does not choose one. Inline, because it
 * removes both thread hops: measured side by side (BENCHMARKS.md, "Where the time goes:
 * the thread hop"), NOPs and cached 4 KiB reads round-trip ~3× faster at QD 1 (3.0 / 3.9
 * µs vs 10.0 / 10.3 µs p50), W3 is 22–49 % faster than the thread mode in every
 * interleaved run, and W1 is even (the fdatasync dominates). The thread mode stays for
 * hosts where the JavaScript thread must never enter the kernel for I/O.
 */
export const DEFAULT_ENGINE_MODE: EngineMode = 'inline'

interface EnvSetting<K extends keyof EnvSettings> {
  env: string
  default: EnvSettings[K]
  /** The value of a non-empty variable, or the words for what it should have been. */
  parse: (raw: string) => { value: EnvSettings[K] } | { expected: string }
}

const ENV_SETTINGS: { [K in keyof EnvSettings]: EnvSetting<K> } = {
  engine: {
    env: 'STREAMLINE_IO_ENGINE', default: DEFAULT_ENGINE_MODE,
    parse: (raw) => (raw === 'inline' || raw === 'thread' ? { value: raw } : { expected: "'inline' or 'thread'" }),
  },
  testSetupErrno: {
    env: 'STREAMLINE_IO_TEST_SETUP_ERRNO', default: 0,
    parse: (raw) => {
      const errno = (os.constants.errno as Record<string, number>)[raw] ?? Number(raw)
      return Number.isInteger(errno) && errno > 0 ? { value: errno } : { expected: 'an errno name or number' }
    },
  },
  testKernelRelease: { env: 'STREAMLINE_IO_TEST_KERNEL_RELEASE', default: null, parse: (raw) => ({ value: raw }) },
  testProcStatus: { env: 'STREAMLINE_IO_TEST_PROC_STATUS', default: null, parse: (raw) => ({ value: raw }) },
  testRingFailAfter: {
    env: 'STREAMLINE_IO_TEST_RING_FAIL_AFTER', default: 0,
    parse: (raw) => {
      const n = Number(raw)
      return Number.isSafeInteger(n) && n >= 0 ? { value: n } : { expected: 'a non-negative integer' }
    },
  },
  // Only '1' switches it on (any other value is ignored, as it always was).
  testNoAddon: { env: 'STREAMLINE_IO_TEST_NO_ADDON', default: false, parse: (raw) => ({ value: raw === '1' }) },
}

export interface ResolvedEnv {
  values: EnvSettings
  /** 'env' where the variable was set (non-empty), else 'default'. */
  sources: Record<keyof EnvSettings, 'default' | 'env'>
  /** The variable of each setting. */
  variables: Record<keyof EnvSettings, string>
}

function envValue<K extends keyof EnvSettings>(key: K, env: NodeJS.ProcessEnv): { value: EnvSettings[K]; source: 'default' | 'env' } {
  const setting = ENV_SETTINGS[key] as EnvSetting<K>
  const raw = env[setting.env]
  if (raw === undefined || raw === '') return { value: setting.default, source: 'default' }
  const parsed = setting.parse(raw)
  if ('expected' in parsed) {
    throw new ConfigError(`${setting.env}=${raw} from the environment is not ${parsed.expected}`, { setting: setting.env, source: 'env' })
  }
  return { value: parsed.value, source: 'env' }
}

/** The environment-only settings with their sources; a bad value throws ERR_IO_CONFIG naming the variable. */
export function resolveEnv(env: NodeJS.ProcessEnv = process.env): ResolvedEnv {
  const out = { values: {}, sources: {}, variables: {} } as ResolvedEnv
  for (const key of Object.keys(ENV_SETTINGS) as Array<keyof EnvSettings>) {
    const { value, source } = envValue(key, env)
    ;(out.values as unknown as Record<string, unknown>)[key] = value
    out.sources[key] = source
    out.variables[key] = ENV_SETTINGS[key].env
  }
  return out
}

/**
 * The addon as process-wide helpers without an Io (crc32c, the WAL's directory lock)
 * see it: loaded unless STREAMLINE_IO_TEST_NO_ADDON=1 in `env`.
 */
export function addonFromEnv(env: NodeJS.ProcessEnv = process.env): AddonLoad {
  return loadAddon({ disabled: envValue('testNoAddon', env).value })
}

export interface ResolvedConfig {
  config: IoConfig
  sources: Record<keyof IoConfig, ConfigSource>
  /** STREAMLINE_IO_ENGINE and the test hooks. */
  env: ResolvedEnv
  /** The addon as these settings see it (absent under STREAMLINE_IO_TEST_NO_ADDON=1). */
  addon: AddonLoad
  /** What the native-layer settings were checked against. */
  limits: Limits
}

/** loadConfig with the source of every value, the environment-only settings and the limits applied. */
export function resolveConfig(overrides: Partial<IoConfig> = {}, env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = []): ResolvedConfig {
  if (overrides === null || typeof overrides !== 'object') throw new ConfigError(`overrides must be an object, got ${overrides === null ? 'null' : typeof overrides}`)
  const flags = argvValues(argv)
  const resolvedEnv = resolveEnv(env)
  const addon = loadAddon({ disabled: resolvedEnv.values.testNoAddon })
  const limits = limitsOf(addon)
  const config = { ...DEFAULT_CONFIG, sizeClasses: [...DEFAULT_CONFIG.sizeClasses] } as IoConfig
  const sources = {} as Record<keyof IoConfig, ConfigSource>
  for (const key of Object.keys(SETTINGS) as Array<keyof IoConfig>) {
    const setting = SETTINGS[key] as Setting<keyof IoConfig>
    let value: unknown = DEFAULT_CONFIG[key]
    let source: ConfigSource = 'default'
    const layers: Array<[ConfigSource, string | undefined]> = [
      ['env', env[setting.env]],
      ['argv', setting.flag === null ? undefined : flags.get(setting.flag)],
    ]
    for (const [layer, raw] of layers) {
      if (raw === undefined || raw === '') continue
      const parsed = setting.parse(raw)
      if (parsed === undefined) throw new ConfigError(`${key}: ${JSON.stringify(raw)} from ${sourceWords(layer, setting)} is not valid (${describeExpected(setting)})`, { setting: key, source: layer })
      value = parsed
      source = layer
    }
    if (Object.prototype.hasOwnProperty.call(overrides, key) && overrides[key] !== undefined) {
      value = overrides[key]
      source = 'override'
    }
    const problem = setting.check(value as never, limits)
    if (problem !== null) throw refused(setting, value, source, problem)
    ;(config as unknown as Record<string, unknown>)[key] = Array.isArray(value) ? [...value] : value
    sources[key] = source
  }
  // The CQ the two depths ask for together (each is within its own bound).
  const cq = bound(limits, 'maxCqEntries')
  if (cqEntriesFor(config) > cq.value) {
    const key = 2 * config.sqDepth > cq.value ? 'sqDepth' : 'queueDepth'
    const text = `needs a completion queue of ${cqEntriesFor(config)} entries (sqDepth ${config.sqDepth}, queueDepth ${config.queueDepth}), more than ${cq.value}`
    throw refused(SETTINGS[key] as Setting<keyof IoConfig>, config[key], sources[key], { text, bound: cq })
  }
  return { config, sources, env: resolvedEnv, addon, limits }
}

function refused(setting: Setting<keyof IoConfig>, value: unknown, source: ConfigSource, problem: Problem): ConfigError {
  const text = typeof problem === 'string' ? problem : `${problem.text} (${boundWords(problem.bound)})`
  const bound = typeof problem === 'string' ? undefined : problem.bound
  return new ConfigError(`${setting.key}: ${formatValue(value)} from ${sourceWords(source, setting)} ${text}`, { setting: setting.key, source, bound })
}

/**
 * The effective configuration (DESIGN.md §3): `DEFAULT_CONFIG`, then `env`'s
 * STREAMLINE_IO_* variables, then `argv`'s flags (`--io-queue-depth 64` or `=64`;
 * unknown flags are ignored here), then `overrides`. Throws `ConfigError`
 * (`ERR_IO_CONFIG`) for a value out of its bounds, naming the setting and its source.
 */
export function loadConfig(overrides: Partial<IoConfig> = {}, env: NodeJS.ProcessEnv = process.env, argv: string[] = []): IoConfig {
  return resolveConfig(overrides, env, argv).config
}

function describeExpected(setting: Setting<keyof IoConfig>): string {
  if (setting.parse === parseBool) return 'expected true or false'
  if (setting.parse === parseList) return 'expected a comma-separated list of integers'
  return 'expected a non-negative integer'
}

function formatValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? `[${value.join(', ')}]` : String(value)
}
