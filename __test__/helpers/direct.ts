// Helpers for the O_DIRECT tests: which file system a directory is on, the alignment
// its device wants (read from sysfs, independently of the library's statx), whether an
// open descriptor really has O_DIRECT (from /proc/self/fdinfo), and child processes in
// a private mount namespace with a file system mounted only there.

import fs from 'node:fs'
import path from 'node:path'

import { cleanEnv, runCommand, type ChildResult } from './child'

const O_DIRECT = fs.constants.O_DIRECT ?? 0o40000

/** The type of the file system `p` is on ('ext4', 'tmpfs', …), from /proc/self/mountinfo. */
export function fsTypeOf(p: string): string {
  const real = fs.realpathSync(p)
  let best = ''
  let type = 'unknown'
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ')
    if (right === undefined) continue
    const mountPoint = left.split(' ')[4].replace(/\\040/g, ' ')
    const within = real === mountPoint || real.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`)
    // Later lines are mounted over earlier ones at the same point.
    if (within && mountPoint.length >= best.length) {
      best = mountPoint
      type = right.split(' ')[0]
    }
  }
  return type
}

/**
 * The O_DIRECT alignment the library should report for a file in `dir`: for a block
 * device, offsets/lengths to its logical block size and memory to its DMA alignment
 * (what statx STATX_DIOALIGN reports, read here from sysfs); for tmpfs, which reports
 * none, the library's documented default of 4096 for both.
 */
export function expectedDioAlignment(dir: string): { mem: number; offset: number; source: string } {
  if (fsTypeOf(dir) === 'tmpfs') return { mem: 4096, offset: 4096, source: 'tmpfs reports no DIOALIGN: the 4096 default' }
  const dev = fs.statSync(dir).dev
  const major = (dev >>> 8) & 0xfff
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00)
  const base = `/sys/dev/block/${major}:${minor}`
  // A partition has no queue/ of its own: its disk's is one level up.
  const queue = fs.existsSync(path.join(base, 'queue')) ? path.join(base, 'queue') : path.join(base, '..', 'queue')
  const read = (name: string) => Number(fs.readFileSync(path.join(queue, name), 'utf8').trim())
  return { mem: read('dma_alignment') + 1, offset: read('logical_block_size'), source: `${queue} (dma_alignment + 1, logical_block_size)` }
}

/**
 * O_DIRECT of every descriptor of this process open on `file` (by /proc/self/fd link),
 * from the flags in /proc/self/fdinfo.
 */
export function directFlagsOf(file: string): boolean[] {
  const out: boolean[] = []
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let target: string
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`)
    } catch {
      continue
    }
    if (target !== file) continue
    const m = /^flags:\s*([0-7]+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))
    if (m) out.push((parseInt(m[1], 8) & O_DIRECT) !== 0)
  }
  return out
}

/**
 * Runs `node ...args` in a new, private mount namespace (root: unshare(1)) in which a
 * fresh `fstype` file system is mounted on `mnt` — visible to that child alone, gone
 * with it however it ends. SIGKILLed after timeoutMs.
 */
export function runNodeInPrivateMount(
  fstype: string,
  mnt: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ChildResult> {
  const script = 'mount -t "$1" "$1" "$2" || exit 97; shift 2; exec "$@"'
  return runCommand('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', fstype, mnt, process.execPath, ...args], {
    env: opts.env ?? cleanEnv(),
    timeoutMs: opts.timeoutMs,
  })
}
