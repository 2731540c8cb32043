// The broker's command line: `--flag value` or `--flag=value`, each flag at most once.
// Anything unknown, missing or out of range is a UsageError naming the flag, never a
// default silently taken. The Io's own flags (DESIGN.md §3 IoConfig) pass through to
// loadConfig, which checks them against the engine's bounds.

export class UsageError extends Error {
  override readonly name = 'UsageError'
}

export type Backend = 'io_uring' | 'standard'

export interface BrokerOptions {
  readonly dir: string
  readonly host: string
  /** 0 = an ephemeral port. */
  readonly port: number
  /** The host clients are told to connect to (Metadata); default: `host`, or the machine's name for a wildcard address. */
  readonly advertisedHost?: string
  readonly partitions: number
  /** null = no metrics listener; 0 = an ephemeral port. */
  readonly metricsPort: number | null
  readonly segmentBytes?: number
  readonly retentionMs?: number
  readonly retentionBytes?: number
  /** How often retention runs; 0 = never (Kafka's log.retention.check.interval.ms, default 5 minutes). */
  readonly retentionCheckMs: number
  readonly maxFrameBytes: number
  /** Kafka's group.initial.rebalance.delay.ms: an empty group waits this long for more members (default 3 s). */
  readonly groupInitialRebalanceDelayMs?: number
  /** Kafka's group.min.session.timeout.ms (here 1 s by default, Kafka's is 6 s). */
  readonly groupMinSessionTimeoutMs?: number
  /** Unset: io_uring where the machine has it, else the standard backend (openIo's default). */
  readonly backend?: Backend
  /** The Io's flags (e.g. --io-queue-depth 64), for loadConfig. */
  readonly ioFlags: readonly string[]
}

export const DEFAULT_PORT = 9092
export const DEFAULT_HOST = '127.0.0.1'
export const DEFAULT_MAX_FRAME_BYTES = 100 * 1024 * 1024
export const DEFAULT_RETENTION_CHECK_MS = 5 * 60_000
/** Kafka positions in a segment are int32. */
const MAX_SEGMENT_BYTES = 2 ** 31 - 1

/** The Io's command-line flags (DESIGN.md §3 IoConfig); their values are checked by loadConfig. */
const IO_FLAGS = new Set(['--enable-io-uring', '--io-uring-sq-depth', '--io-queue-depth', '--io-workers', '--io-buffer-pool-size', '--io-uring-sqpoll', '--preallocate-wal', '--preallocate-size'])
const IO_BOOLEAN_FLAGS = new Set(['--enable-io-uring', '--io-uring-sqpoll', '--preallocate-wal'])

export const USAGE = `usage: kafka-broker --dir DIR [options]

A single-node Kafka-protocol broker on @streamline/io (DESIGN.md §8).

  --dir DIR                 where topics live, one directory per partition (required)
  --host HOST               address to listen on (default ${DEFAULT_HOST})
  --port N                  Kafka port (default ${DEFAULT_PORT}; 0 = any free port, printed)
  --advertised-host HOST    host clients are told to connect to (default: --host)
  --partitions N            partitions of an auto-created topic (default 1)
  --metrics-port N          serve /metrics (Prometheus text) on this port (0 = any free port)
  --segment-bytes N         roll segments at this size (default 1 GiB)
  --retention-ms N          delete segments older than this
  --retention-bytes N       delete the oldest segments while a partition stays above this
  --retention-check-ms N    how often retention runs (default ${DEFAULT_RETENTION_CHECK_MS}; 0 = never)
  --max-frame-bytes N       largest request accepted; larger closes the connection (default ${DEFAULT_MAX_FRAME_BYTES})
  --backend io_uring|standard   the Io backend (default: io_uring where available)
  --group-initial-rebalance-delay-ms N   how long an empty group waits for more members (default 3000)
  --group-min-session-timeout-ms N       shortest consumer session accepted (default 1000)
  --help                    this text

The Io's own flags (${[...IO_FLAGS].join(', ')}) are passed to loadConfig.
`

type Flag = 'dir' | 'host' | 'port' | 'advertised-host' | 'partitions' | 'metrics-port' | 'segment-bytes' | 'retention-ms' | 'retention-bytes' | 'retention-check-ms' | 'max-frame-bytes' | 'backend' | 'group-initial-rebalance-delay-ms' | 'group-min-session-timeout-ms'
const FLAGS: ReadonlySet<string> = new Set<Flag>(['dir', 'host', 'port', 'advertised-host', 'partitions', 'metrics-port', 'segment-bytes', 'retention-ms', 'retention-bytes', 'retention-check-ms', 'max-frame-bytes', 'backend', 'group-initial-rebalance-delay-ms', 'group-min-session-timeout-ms'])

function integer(flag: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw)) throw new UsageError(`--${flag}: ${JSON.stringify(raw)} is not a whole number`)
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${flag}: ${raw} is outside ${min}..${max}`)
  return n
}

/** Parses `argv` (without node and the script); `help` when --help was given. */
export function parseBrokerArgs(argv: readonly string[]): { kind: 'help' } | { kind: 'options'; options: BrokerOptions } {
  const values = new Map<Flag, string>()
  const ioFlags: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--help' || arg === '-h') return { kind: 'help' }
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)} (flags start with --)`)
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
    if (IO_FLAGS.has(`--${name}`)) {
      ioFlags.push(arg)
      const bare = eq === -1 && (i + 1 >= argv.length || argv[i + 1].startsWith('--'))
      if (eq === -1 && !bare) ioFlags.push(argv[++i])
      else if (bare && !IO_BOOLEAN_FLAGS.has(`--${name}`)) throw new UsageError(`--${name} needs a value`)
      continue
    }
    if (!FLAGS.has(name)) throw new UsageError(`unknown flag --${name} (--help lists them)`)
    let value: string
    if (eq !== -1) value = arg.slice(eq + 1)
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) value = argv[++i]
    else throw new UsageError(`--${name} needs a value`)
    if (values.has(name as Flag)) throw new UsageError(`--${name} is given twice`)
    values.set(name as Flag, value)
  }
  const dir = values.get('dir')
  if (dir === undefined || dir === '') throw new UsageError('--dir is required: the directory that holds the topics')
  const optional = (flag: Flag, min: number, max: number): number | undefined => {
    const raw = values.get(flag)
    return raw === undefined ? undefined : integer(flag, raw, min, max)
  }
  const backend = values.get('backend')
  if (backend !== undefined && backend !== 'io_uring' && backend !== 'standard') throw new UsageError(`--backend: ${JSON.stringify(backend)} is not io_uring or standard`)
  const host = values.get('host') ?? DEFAULT_HOST
  if (host === '') throw new UsageError('--host is empty')
  const advertisedHost = values.get('advertised-host')
  if (advertisedHost === '') throw new UsageError('--advertised-host is empty')
  return {
    kind: 'options',
    options: {
      dir,
      host,
      port: optional('port', 0, 65535) ?? DEFAULT_PORT,
      advertisedHost,
      partitions: optional('partitions', 1, 100_000) ?? 1,
      metricsPort: optional('metrics-port', 0, 65535) ?? null,
      segmentBytes: optional('segment-bytes', 1024, MAX_SEGMENT_BYTES),
      retentionMs: optional('retention-ms', 1, Number.MAX_SAFE_INTEGER),
      retentionBytes: optional('retention-bytes', 1, Number.MAX_SAFE_INTEGER),
      retentionCheckMs: optional('retention-check-ms', 0, 2_147_483_647) ?? DEFAULT_RETENTION_CHECK_MS,
      maxFrameBytes: optional('max-frame-bytes', 1024, 2 ** 31 - 1) ?? DEFAULT_MAX_FRAME_BYTES,
      groupInitialRebalanceDelayMs: optional('group-initial-rebalance-delay-ms', 0, 2_147_483_647),
      groupMinSessionTimeoutMs: optional('group-min-session-timeout-ms', 1, 2_147_483_647),
      backend,
      ioFlags,
    },
  }
}
