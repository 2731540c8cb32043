// --help texts, one per level.
import { CONFIG_FLAGS, DEFAULT_CONFIG } from '../config'

function configFlagsText(): string {
  const lines = [...CONFIG_FLAGS].map(([flag, key]) => {
    const def = DEFAULT_CONFIG[key]
    const arg = typeof def === 'boolean' ? '[true|false]' : 'N'
    return `  ${`${flag} ${arg}`.padEnd(34)}${key} (default ${Array.isArray(def) ? def.join(',') : String(def)})`
  })
  return ['Config flags (every command; precedence: default < STREAMLINE_IO_* environment < flag):', ...lines].join('\n')
}

const TOP = `Usage: streamline-io <command> [options] [config flags]

Commands:
  info                  kernel, io_uring support, backend and effective config
  wal dump DIR          list the records of a write-ahead log directory
  wal verify DIR        check a write-ahead log directory, report the first problem

Options:
  --help, -h            show help (also after any command)

Exit codes: 0 ok, 1 damaged log or failure, 2 usage error.`

const INFO = `Usage: streamline-io info [--json] [config flags]

Shows the kernel release, whether io_uring is available (or why not), the probed
opcodes and features, the backend that would be chosen and the effective config with
where each value came from (default, env, flag).

Options:
  --json                print as JSON
  --help, -h            show this help`

const WAL = `Usage: streamline-io wal <dump|verify> DIR [options] [config flags]

Subcommands:
  dump DIR              list records: LSN, file, position, size, CRC status
  verify DIR            walk every file, report the first problem with file and position

Both open the log with readOnly: true and never change what they inspect.`

const WAL_DUMP = `Usage: streamline-io wal dump DIR [--from LSN] [--json] [config flags]

Lists every record of the WAL in DIR (LSN, file, position of the frame, payload size,
CRC status), where each file's records end, and the verdict of a read-only recovery.
Opens read-only; changes nothing.

Options:
  --from LSN            start at this LSN
  --json                print as JSON
  --help, -h            show this help`

const WAL_VERIFY = `Usage: streamline-io wal verify DIR [--strict] [--json] [config flags]

Walks every file of the WAL in DIR read-only, as recovery would, and reports the first
problem with its file and position. Exit 0 when clean; exit 1 when damaged. A torn
tail that recovery would truncate is a warning (exit 0) unless --strict.

Options:
  --strict              treat a torn tail as damage (recovery: 'strict')
  --json                print as JSON
  --help, -h            show this help`

export const HELP: Record<string, string> = {
  top: TOP,
  info: INFO,
  wal: WAL,
  'wal dump': WAL_DUMP,
  'wal verify': WAL_VERIFY,
}

export function helpText(level: string): string {
  return `${HELP[level]}\n\n${configFlagsText()}\n`
}
