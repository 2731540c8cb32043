// Command-line parsing for streamline-io: one pass over argv that separates the
// command words, the CLI's own flags and the config flags (CONFIG_FLAGS, DESIGN.md §3).
// Every user mistake is a UsageError: one line on stderr, exit code 2.
import { CONFIG_FLAGS, DEFAULT_CONFIG } from '../config'

export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** The CLI's own flags: name → takes a value. */
export const CLI_FLAGS: ReadonlyMap<string, boolean> = new Map([
  ['--help', false],
  ['--json', false],
  ['--strict', false],
  ['--from', true],
  ['--workload', true],
  ['--backend', true],
  ['--dir', true],
  ['--duration', true],
  ['--quick', false],
  ['--plot', true],
  ['--limits', false],
  ['--indexes', false],
])

export interface ParsedArgs {
  /** Command words and arguments, in order. */
  positionals: string[]
  /** The CLI's own flags that were given (value '' for the ones without a value). */
  flags: Map<string, string>
  /** Config flags normalized to `--flag=value`, for resolveConfig. */
  configArgv: string[]
  help: boolean
}

const isBoolSetting = (flag: string): boolean => typeof DEFAULT_CONFIG[CONFIG_FLAGS.get(flag)!] === 'boolean'

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { positionals: [], flags: new Map(), configArgv: [], help: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1))
      break
    }
    if (arg === '-h') {
      out.help = true
      continue
    }
    if (!arg.startsWith('-') || arg === '-') {
      out.positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg : arg.slice(0, eq)
    const inline = eq === -1 ? null : arg.slice(eq + 1)
    if (CONFIG_FLAGS.has(name)) {
      // Same rules as resolveConfig: `--flag value`, `--flag=value`; a bare boolean is true.
      let value = inline
      if (value === null) {
        if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) value = argv[++i]
        else if (isBoolSetting(name)) value = 'true'
        else throw new UsageError(`flag ${name} needs a value`)
      }
      out.configArgv.push(`${name}=${value}`)
      continue
    }
    const takesValue = CLI_FLAGS.get(name)
    if (takesValue === undefined) throw new UsageError(`unknown flag ${name}`)
    if (takesValue) {
      let value = inline
      if (value === null) {
        if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) value = argv[++i]
        else throw new UsageError(`flag ${name} needs a value`)
      }
      out.flags.set(name, value)
    } else {
      if (inline !== null) throw new UsageError(`flag ${name} takes no value`)
      if (name === '--help') out.help = true
      else out.flags.set(name, '')
    }
  }
  return out
}

/** Rejects CLI flags that `command` does not take. */
export function allowFlags(parsed: ParsedArgs, command: string, allowed: readonly string[]): void {
  for (const name of parsed.flags.keys()) {
    if (!allowed.includes(name)) throw new UsageError(`unknown flag ${name} for '${command}'`)
  }
}

/** A non-negative safe integer from a flag, or a UsageError naming it. */
export function intFlag(parsed: ParsedArgs, name: string): number | undefined {
  const raw = parsed.flags.get(name)
  if (raw === undefined) return undefined
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n)) throw new UsageError(`flag ${name} needs a non-negative integer, got ${JSON.stringify(raw)}`)
  return n
}
