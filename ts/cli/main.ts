// streamline-io: the command-line tool (bin/streamline-io). Commands: info, bench,
// wal dump, wal verify, log dump, log verify. Exit codes: 0 ok, 1 damaged log or a failure, 2 a usage mistake; user
// mistakes are one line on stderr, never a stack trace.
import { ConfigError, resolveConfig, type ResolvedEnv } from '../config'
import type { Limits } from '../native'
import type { ConfigSource, IoConfig } from '../types'
import { type ParsedArgs, UsageError, allowFlags, parseArgs } from './args'
import { helpText } from './help'
import { info } from './info'
import { logDump, logVerify } from './log'
import { walDump, walVerify } from './wal'

export interface CliContext {
  args: ParsedArgs
  config: IoConfig
  /** Where each value came from, in the CLI's words: default, env, flag (or override). */
  sources: Record<keyof IoConfig, 'default' | 'env' | 'flag' | 'override'>
  /** STREAMLINE_IO_ENGINE and the test hooks, with their sources. */
  env: ResolvedEnv
  /** The limits the native-layer settings were checked against. */
  limits: Limits
  out: (text: string) => void
}

const sourceWord = (s: ConfigSource): 'default' | 'env' | 'flag' | 'override' => (s === 'argv' ? 'flag' : s)

const COMMANDS = ['info', 'bench', 'wal', 'log']
const WAL_SUBCOMMANDS = ['dump', 'verify']
const LOG_SUBCOMMANDS = ['dump', 'verify']

export async function main(argv: readonly string[]): Promise<number> {
  const out = (text: string) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
  // A reader that stops early (`| head`) is not an error; nothing is written to disk.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0)
    throw err
  })
  try {
    const args = parseArgs(argv)
    const [command, sub, ...rest] = args.positionals
    // The help level is as deep as the command words are known.
    if (args.help) {
      const level =
        command === 'info' || command === 'bench'
          ? command
          : command === 'wal'
            ? WAL_SUBCOMMANDS.includes(sub)
              ? `wal ${sub}`
              : 'wal'
            : command === 'log'
              ? LOG_SUBCOMMANDS.includes(sub)
                ? `log ${sub}`
                : 'log'
              : 'top'
      if (command !== undefined && !COMMANDS.includes(command)) throw new UsageError(`unknown command '${command}' (commands: ${COMMANDS.join(', ')})`)
      out(helpText(level))
      return 0
    }
    if (command === undefined) throw new UsageError('missing command (commands: info, bench, wal, log; see --help)')
    if (!COMMANDS.includes(command)) throw new UsageError(`unknown command '${command}' (commands: ${COMMANDS.join(', ')})`)
    let run: (ctx: CliContext, dir: string) => Promise<number>
    let dir = ''
    if (command === 'info') {
      allowFlags(args, 'info', ['--json'])
      if (sub !== undefined) throw new UsageError(`unexpected argument '${sub}' for 'info'`)
      run = (ctx) => info(ctx)
    } else if (command === 'bench') {
      allowFlags(args, 'bench', ['--json', '--workload', '--backend', '--dir', '--duration', '--quick', '--plot', '--limits'])
      if (sub !== undefined) throw new UsageError(`unexpected argument '${sub}' for 'bench'`)
      // Loaded only when asked for: the workloads (./bench/) are not needed by the other commands.
      run = async (ctx) => (await import('./bench')).bench(ctx)
    } else if (command === 'log') {
      if (sub === undefined) throw new UsageError("missing subcommand for 'log' (dump or verify; see log --help)")
      if (!LOG_SUBCOMMANDS.includes(sub)) throw new UsageError(`unknown subcommand 'log ${sub}' (log dump, log verify)`)
      allowFlags(args, `log ${sub}`, sub === 'dump' ? ['--json', '--from', '--indexes'] : ['--json'])
      if (rest.length === 0) throw new UsageError(`missing argument DIR for 'log ${sub}'`)
      if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]}' for 'log ${sub}'`)
      dir = rest[0]
      run = sub === 'dump' ? logDump : logVerify
    } else {
      if (sub === undefined) throw new UsageError("missing subcommand for 'wal' (dump or verify; see wal --help)")
      if (!WAL_SUBCOMMANDS.includes(sub)) throw new UsageError(`unknown subcommand 'wal ${sub}' (wal dump, wal verify)`)
      allowFlags(args, `wal ${sub}`, sub === 'dump' ? ['--json', '--from'] : ['--json', '--strict'])
      if (rest.length === 0) throw new UsageError(`missing argument DIR for 'wal ${sub}'`)
      if (rest.length > 1) throw new UsageError(`unexpected argument '${rest[1]}' for 'wal ${sub}'`)
      dir = rest[0]
      run = sub === 'dump' ? walDump : walVerify
    }
    const resolved = resolveConfig({}, process.env, args.configArgv)
    const sources = {} as CliContext['sources']
    for (const key of Object.keys(resolved.sources) as Array<keyof IoConfig>) sources[key] = sourceWord(resolved.sources[key])
    return await run({ args, config: resolved.config, sources, env: resolved.env, limits: resolved.limits, out }, dir)
  } catch (err) {
    const e = err as Error & { code?: unknown }
    if (err instanceof UsageError || err instanceof ConfigError || e?.code === 'ERR_IO_CONFIG') {
      process.stderr.write(`streamline-io: ${e.message}\n`)
      return 2
    }
    // Not the user's mistake: still one line, the stack only on request.
    process.stderr.write(`streamline-io: ${e instanceof Error ? e.message : String(err)}\n`)
    if (process.env.STREAMLINE_IO_CLI_STACK === '1' && e instanceof Error) process.stderr.write(`${e.stack}\n`)
    return 1
  }
}
