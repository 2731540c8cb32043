// Configuration: defaults < environment (STREAMLINE_IO_*) < argv flags < explicit
// overrides (DESIGN.md §3). Every value remembers where it came from, so errors and
// `streamline-io info` can say so.
import type { ConfigSource, IoConfig } from './types'

interface Setting<K extends keyof IoConfig> {
  key: K
  env: string
  flag: string | null
  parse: (raw: string) => IoConfig[K] | undefined
  check: (value: IoConfig[K]) => string | null
}

const MiB = 1024 * 1024

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

// Limits: a bound on everything (TigerBeetle style). 32768 is the kernel's SQ maximum.
const SQ_DEPTH_MAX = 32768
const QUEUE_DEPTH_MAX = 1 << 20
const IO_WORKERS_MAX = 64

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
const intIn = (min: number, max: number) => (v: number) =>
  Number.isSafeInteger(v) && v >= min && v <= max ? null : `must be an integer from ${min} to ${max}`

const SETTINGS: { [K in keyof IoConfig]: Setting<K> } = {
  enableIoUring: { key: 'enableIoUring', env: 'STREAMLINE_IO_URING', flag: '--enable-io-uring', parse: parseBool, check: (v) => (typeof v === 'boolean' ? null : 'must be true or false') },
  sqDepth: {
    key: 'sqDepth', env: 'STREAMLINE_IO_SQ_DEPTH', flag: '--io-uring-sq-depth', parse: parseInt_,
    check: (v) => intIn(1, SQ_DEPTH_MAX)(v) ?? (isPow2(v) ? null : 'must be a power of two'),
  },
  queueDepth: { key: 'queueDepth', env: 'STREAMLINE_IO_QUEUE_DEPTH', flag: '--io-queue-depth', parse: parseInt_, check: intIn(1, QUEUE_DEPTH_MAX) },
  ioWorkers: { key: 'ioWorkers', env: 'STREAMLINE_IO_WORKERS', flag: '--io-workers', parse: parseInt_, check: intIn(1, IO_WORKERS_MAX) },
  bufferPoolSize: { key: 'bufferPoolSize', env: 'STREAMLINE_IO_BUFFER_POOL_SIZE', flag: '--io-buffer-pool-size', parse: parseInt_, check: intIn(0, 1 << 16) },
  sizeClasses: {
    key: 'sizeClasses', env: 'STREAMLINE_IO_SIZE_CLASSES', flag: null, parse: parseList,
    check: (v) => {
      if (!Array.isArray(v) || v.length === 0) return 'must be a non-empty list of sizes'
      for (let i = 0; i < v.length; i++) {
        const n = v[i]
        if (!Number.isSafeInteger(n) || n < 512 || n % 512 !== 0) return 'must hold multiples of 512 bytes'
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

export class ConfigError extends Error {
  readonly code = 'ERR_IO_CONFIG'
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
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
      else throw new ConfigError(`${setting.key}: flag ${flag} needs a value`)
    }
  }
  return found
}

export interface ResolvedConfig {
  config: IoConfig
  sources: Record<keyof IoConfig, ConfigSource>
}

/** loadConfig with the source of every value, for diagnostics. */
export function resolveConfig(overrides: Partial<IoConfig> = {}, env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = []): ResolvedConfig {
  if (overrides === null || typeof overrides !== 'object') throw new ConfigError(`overrides must be an object, got ${overrides === null ? 'null' : typeof overrides}`)
  const flags = argvValues(argv)
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
      if (parsed === undefined) throw new ConfigError(`${key}: ${JSON.stringify(raw)} from ${sourceWords(layer, setting)} is not valid (${describeExpected(setting)})`)
      value = parsed
      source = layer
    }
    if (Object.prototype.hasOwnProperty.call(overrides, key) && overrides[key] !== undefined) {
      value = overrides[key]
      source = 'override'
    }
    const problem = setting.check(value as never)
    if (problem !== null) throw new ConfigError(`${key}: ${formatValue(value)} from ${sourceWords(source, setting)} ${problem}`)
    ;(config as unknown as Record<string, unknown>)[key] = Array.isArray(value) ? [...value] : value
    sources[key] = source
  }
  return { config, sources }
}

/** The effective configuration (DESIGN.md §3); unknown argv flags are ignored here. */
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
