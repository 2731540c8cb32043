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
  bench                 DESIGN.md §6 workloads: both backends side by side with node:fs
  wal dump DIR          list the records of a write-ahead log directory
  wal verify DIR        check a write-ahead log directory, report the first problem
  log dump DIR          list the batches (and index entries) of a partition log directory
  log verify DIR        check a partition log: every batch and index entry, first problem

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

const BENCH = `Usage: streamline-io bench [--workload W1,…,W6,W7,Z] [--backend LIST] [--dir DIR]
                          [--duration S] [--quick] [--json] [--plot FILE] [--limits]
                          [config flags]

Runs DESIGN.md §6's workloads side by side in one run on this machine:
  W1  WAL 4 KiB append + fdatasync, 1 writer (library: openWal; node:fs: write + datasync)
  W1r the raw file path: writeAt 4 KiB then syncData, each awaited, on a growing file
      (node:fs: FileHandle write + datasync)
  W2  WAL group commit: 64 writers × 1 KiB, each acknowledgement durable
  W3  random 4 KiB reads, page cache warm, 32 in flight, a promise each
  W4  the same through io.batch() of 32 (node:fs: Promise.all of 32 reads)
  W5  random 4 KiB O_DIRECT reads, 32 in flight, on io.pool buffers (node:fs: an
      aligned subarray of an over-allocated Buffer, found by probing)
  W6  sequential 1 MiB reads, cold cache (evicted first: posix_fadvise DONTNEED after
      fdatasync through the addon, or drop_caches when root)
  W7  16 partition logs in one Io (W7 names its three phases):
      W7P produce: 16 producers, batches of 100 × 1 KiB, sync 'always' (node-fs: the
          single-writer sync loop, write one batch + fdatasync, for scale)
      W7W consume: 16 readers, read() with maxBytes 64 KiB, page cache warm
      W7C consume: the same after evicting the segments (node:fs has no partition log:
          W7W/W7C rows are n/a for node-fs)
  Z   zero-copy fetch (Z names both): one partition log (1 GiB in 256 MiB segments;
      128 MiB with --quick) served to a loopback consumer child in 1 MiB fetches, each
      behind a 4-byte length; the library with log.slice + log.sendTo (splice on
      io_uring, sendfile on standard), node:fs with FileHandle.read + socket.write
      Z1  page cache warm;  Z1C  segments evicted before each pass
Backends: io_uring, standard (the library), node-fs (FileHandle as a Node user writes
it), node-fs-uring (the same node:fs code in a child process with UV_USE_IO_URING=1).
Progress goes to stderr; the table (ops/s or MB/s, p50/p99/p999, ratio vs node-fs) to
stdout, with each row's ratio to node-fs and to the standard backend and, where
measured (W6, W7, Z1), CPU per GB or per record (the server's, for Z1). Latencies are recorded in HDR histograms
(hdr-histogram-js, 3 significant digits). Warns when DIR is on tmpfs.

Options:
  --workload LIST       comma-separated workloads (default all: W1,W1r,W2,…,W6,W7P,W7W,W7C,
                        Z1,Z1C)
  --backend LIST        comma-separated backends (default all four)
  --dir DIR             where the files go: a fresh directory inside DIR, removed
                        afterwards (default: $BENCH_DIR, else the OS temp directory;
                        use the disk you care about, not tmpfs)
  --duration S          seconds per workload and backend (default 3; 1 with --quick)
  --quick               short runs and small files: the whole default run in ~30 s
  --json                print machine-readable results (machine, kernel, file system,
                        date, command, config; per workload × backend: ops/s, MB/s,
                        latency percentiles and the HDR histogram); several runs' JSON
                        make BENCHMARKS.md's table: npm run bench:md -- A.json B.json
  --plot FILE           also draw the latency distributions (percentile curves, one
                        line per backend, a panel per workload) as an SVG to FILE
  --limits              also measure the disk's floors in the same run, before the
                        workloads, and print each row's ratio to its floor: sync loops
                        of writeSync + fdatasyncSync (4 KiB on a laid-out file: W1; 4 KiB
                        growing: W1r; 64 KiB laid out, × 64 records: W2), sequential
                        1 MiB readSync cold and O_DIRECT (W6), and fio's jobs where fio
                        is installed (W1; W3 for W3 and W4; W5; W6; rows say when not)
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

const LOG = `Usage: streamline-io log <dump|verify> DIR [options] [config flags]

A partition log directory holds Kafka's layout: <base offset>.log segments of RecordBatch
v2 with their .index and .timeindex files (docs/FORMATS.md).

Subcommands:
  dump DIR              list batches: offsets, position, size, timestamps, record count,
                        codec, CRC status; --indexes adds the index entries
  verify DIR            check every batch and every index entry against the log, report
                        the first problem with file and position

Both open the log with readOnly: true and never change what they inspect.`

const LOG_DUMP = `Usage: streamline-io log dump DIR [--from OFFSET] [--indexes] [--json] [config flags]

Lists every batch of the partition log in DIR (base and last offset, record count,
position in its segment, size, base and max timestamp, codec, CRC status, leader epoch,
producer id/epoch, base sequence), where each segment's batches end (and any bad spot
the listing resumed after), and the verdict of log verify. Opens read-only.

Options:
  --from OFFSET         start at the batch holding this offset
  --indexes             also list each segment's .index and .timeindex entries
  --json                print as JSON
  --help, -h            show this help`

const LOG_VERIFY = `Usage: streamline-io log verify DIR [--json] [config flags]

Opens the partition log in DIR read-only (as recovery would), then checks every batch
of every segment (whole, magic 2, CRC, offsets following on) and every index entry
against the batches (an .index entry names a batch's last offset and its start; a
.timeindex entry the largest timestamp so far and the batch holding it). Reports the
first problem with its file and position. Exit 0 when clean, and for a torn tail that
opening the log would cut (a warning); exit 1 when damaged. Without the clean-shutdown
marker the active segment's indexes are not checked: opening the log rebuilds them.

Options:
  --json                print as JSON
  --help, -h            show this help`

export const HELP: Record<string, string> = {
  top: TOP,
  info: INFO,
  bench: BENCH,
  wal: WAL,
  'wal dump': WAL_DUMP,
  'wal verify': WAL_VERIFY,
  log: LOG,
  'log dump': LOG_DUMP,
  'log verify': LOG_VERIFY,
}

export function helpText(level: string): string {
  return `${HELP[level]}\n\n${configFlagsText()}\n`
}
