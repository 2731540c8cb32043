// BENCHMARKS.md's generated table from `streamline-io bench --json` runs:
//
//   npm run bench:md -- run1.json run2.json run3.json                  # print the section
//   npm run bench:md -- run1.json run2.json run3.json --write BENCHMARKS.md
//   npm run bench:md -- run*.json --plot latency.svg                    # all runs' latencies
//
// Medians across runs per workload × backend, the median of each run's ratio against
// node-fs, and the facts the runs state (machine, kernel, file system, date, node, command).
// --write replaces the text between <!-- bench:begin --> and <!-- bench:end --> in place and
// leaves the rest of the file (the hand-written analysis) alone. The work is in
// benches/markdown.ts; this is the command around it.
import fs from 'node:fs'
import { plotReports } from '../ts/cli/bench/plot'
import { readReport, renderMarkdown, replaceBetweenMarkers } from '../benches/markdown'
import { WORKLOAD_TITLES } from '../ts/cli/bench/workloads'

const USAGE = `Usage: benchmarks-md RUN.json [RUN.json …] [--write FILE] [--plot FILE.svg]

Makes BENCHMARKS.md's generated section from one or more \`streamline-io bench --json\`
outputs: per workload × backend each run's throughput, the median across runs, median
p50/p99/p999 and the median ratio against node-fs of the same run; above it the machine,
kernel, file system, date, node version and command the runs state.

Options:
  --write FILE          replace the section between <!-- bench:begin --> and
                        <!-- bench:end --> in FILE (default: print it to stdout)
  --plot FILE.svg       also draw every run's latencies (histograms added) as an SVG
  --help, -h            show this help`

class UsageError extends Error {}

export function main(argv: readonly string[]): number {
  try {
    const files: string[] = []
    let write: string | undefined
    let plot: string | undefined
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]
      if (a === '--help' || a === '-h') {
        process.stdout.write(`${USAGE}\n`)
        return 0
      }
      if (a === '--write' || a === '--plot') {
        const v = argv[++i]
        if (v === undefined || v.startsWith('--')) throw new UsageError(`flag ${a} needs a file name`)
        if (a === '--write') write = v
        else plot = v
      } else if (a.startsWith('-')) {
        throw new UsageError(`unknown flag ${a}`)
      } else {
        files.push(a)
      }
    }
    if (files.length === 0) throw new UsageError('no JSON files given (the output of streamline-io bench --json; see --help)')
    const reports = files.map(readReport)
    const section = renderMarkdown(reports, files)
    if (write === undefined) {
      process.stdout.write(`${section}\n`)
    } else {
      let doc: string
      try {
        doc = fs.readFileSync(write, 'utf8')
      } catch (err) {
        throw new Error(`cannot read ${write}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
      }
      let next: string
      try {
        next = replaceBetweenMarkers(doc, section)
      } catch (err) {
        throw new Error(`${write}: ${(err as Error).message}`)
      }
      fs.writeFileSync(write, next)
      process.stderr.write(`benchmarks-md: ${write}: section replaced from ${files.length} run(s)\n`)
    }
    if (plot !== undefined) {
      fs.writeFileSync(plot, plotReports(reports, WORKLOAD_TITLES))
      process.stderr.write(`benchmarks-md: latency plot written to ${plot}\n`)
    }
    return 0
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    process.stderr.write(`benchmarks-md: ${e.code !== undefined && e.path !== undefined ? `cannot write ${e.path}: ${e.code}` : e.message}\n`)
    return err instanceof UsageError ? 2 : 1
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2))
