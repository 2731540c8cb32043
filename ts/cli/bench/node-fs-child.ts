// The node-fs-uring peer of `streamline-io bench`: the same node:fs code as the node-fs
// backend, run in a child process started with UV_USE_IO_URING=1 (libuv reads that at
// start-up). Arguments: one JSON object (workload, files, seconds). Prints one JSON line
// on stdout: the Summary and the eviction methods used.
import { type EvictMethod, type RunFiles, type Workload, runNodeFs, summarize } from './workloads'

interface ChildArgs {
  workload: Workload
  files: RunFiles
  seconds: number
}

async function childMain(): Promise<void> {
  const args = JSON.parse(process.argv[2]) as ChildArgs
  const evictions: EvictMethod[] = []
  const r = await runNodeFs(args.workload, args.files, args.seconds, (m) => evictions.push(m))
  process.stdout.write(`${JSON.stringify({ summary: summarize(r), evictions })}\n`)
}

childMain().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`)
  process.exitCode = 1
})
