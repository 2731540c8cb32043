// The addon's sendTo helpers (dupFd, closeFd, sendfile, pollWritable, pollClose) over a
// real 127.0.0.1 TCP pair: shared by sendfile-addon.spec.ts and its child fixture, so no
// ava here.

import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'

import { loadAddon, type NativeAddon, type PollHandle } from '../../ts/native'

export type SendfileAddon = NativeAddon & Required<Pick<NativeAddon, 'dupFd' | 'closeFd' | 'sendfile' | 'pollWritable' | 'pollClose'>>

export const { EAGAIN, EBADF, EPIPE, ECONNRESET } = os.constants.errno
/** crates/binding sendfile.rs SENDFILE_TASK_BYTES. */
export const SENDFILE_TASK_BYTES = 16 << 20

/** The loaded addon, or an Error saying why it cannot serve these tests. */
export function sendfileAddon(): SendfileAddon {
  const load = loadAddon()
  if (load.addon === null) throw new Error(`the native addon is missing: ${load.reason}`)
  const a = load.addon as Partial<SendfileAddon>
  for (const name of ['dupFd', 'closeFd', 'sendfile', 'pollWritable', 'pollClose'] as const) {
    if (typeof a[name] !== 'function') throw new Error(`the addon lacks ${name}() (stale build? npm run build:native)`)
  }
  return load.addon as SendfileAddon
}

/** What the receiving end got so far. */
export interface Received {
  bytes: number
  hash: crypto.Hash
  ended: Promise<void>
}

/** A connected pair: `sender` (whose fd the tests send on) and `receiver`, hashing. */
export interface TcpPair {
  sender: net.Socket
  receiver: net.Socket
  got: Received
  /** Bytes `receiver` got, once exactly `n` arrived (or the connection ended, or failed). */
  waitFor(n: number): Promise<number>
  /** Destroys both ends; resolves once Node has closed both descriptors. */
  close(): Promise<void>
}

export async function tcpPair(opts: { paused?: boolean } = {}): Promise<TcpPair> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const sender = net.connect(port, '127.0.0.1')
  // The receiver destroying its end makes the sender's reads fail: not a test failure.
  sender.on('error', () => undefined)
  await new Promise<void>((resolve, reject) => {
    sender.once('connect', resolve)
    sender.once('error', reject)
  })
  const receiver = await accepted
  server.close()
  receiver.on('error', () => undefined)
  if (opts.paused === true) receiver.pause()
  const waiters: Array<() => void> = []
  let done = false
  const got: Received = {
    bytes: 0,
    hash: crypto.createHash('sha256'),
    ended: new Promise<void>((resolve) =>
      receiver.once('close', () => {
        done = true
        resolve()
        for (const w of waiters.splice(0)) w()
      }),
    ),
  }
  receiver.on('data', (d: Buffer) => {
    got.bytes += d.length
    got.hash.update(d)
    for (const w of waiters.splice(0)) w()
  })
  const waitFor = async (n: number): Promise<number> => {
    while (got.bytes < n && !done) await new Promise<void>((resolve) => waiters.push(resolve))
    return got.bytes
  }
  return {
    sender,
    receiver,
    got,
    waitFor,
    close: async () => {
      const closed = (s: net.Socket): Promise<void> => (s.closed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve())))
      sender.destroy()
      receiver.destroy()
      await Promise.all([closed(sender), closed(receiver)])
    },
  }
}

/** The sender's descriptor, as Node's handle has it (the reliance sendTo documents). */
export function fdOf(socket: net.Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd
  if (typeof fd !== 'number' || fd < 0) throw new Error(`the socket has no descriptor (${String(fd)})`)
  return fd
}

/** A one-shot wait for writability, as a promise (and the handle, to close it). */
export function writable(a: SendfileAddon, fd: number): { fired: Promise<void>; handle: PollHandle } {
  let handle: PollHandle | undefined
  const fired = new Promise<void>((resolve) => {
    handle = a.pollWritable(fd, resolve)
  })
  return { fired, handle: handle as PollHandle }
}

export interface SendOutcome {
  sent: number
  /** sendfile() calls made. */
  calls: number
  /** pollWritable waits that fired. */
  waits: number
  /** The errno that ended it (0: done or end of file). */
  errno: number
  /** The first step that ended in EAGAIN, if any. */
  firstEagain: { bytes: number } | null
  /** The most bytes one call returned. */
  largestStep: number
}

/**
 * The standard backend's loop (zero-copy.md §4): sendfile steps from `position`, waiting
 * for writability on EAGAIN, until `length` bytes are sent, end of file or an error.
 * `onEagain` runs once, at the first EAGAIN, after the wait is armed.
 */
export async function sendAll(
  a: SendfileAddon,
  sockFd: number,
  fileFd: number,
  position: number,
  length: number,
  onEagain?: () => void,
): Promise<SendOutcome> {
  const out: SendOutcome = { sent: 0, calls: 0, waits: 0, errno: 0, firstEagain: null, largestStep: 0 }
  while (out.sent < length) {
    const asked = length - out.sent
    const [bytes, errno] = await a.sendfile(sockFd, fileFd, position + out.sent, asked)
    out.calls++
    out.sent += bytes
    out.largestStep = Math.max(out.largestStep, bytes)
    if (errno === EAGAIN) {
      const w = writable(a, sockFd)
      if (out.firstEagain === null) {
        out.firstEagain = { bytes }
        onEagain?.()
      }
      await w.fired
      out.waits++
      continue
    }
    if (errno !== 0) {
      out.errno = errno
      break
    }
    if (bytes < Math.min(asked, SENDFILE_TASK_BYTES)) break // end of file
  }
  return out
}

/** A file of `size` random bytes in `dir`, open for reading, and its sha256. */
export function randomFile(dir: string, name: string, size: number): { path: string; fd: number; sha256: string; data: Buffer } {
  const data = crypto.randomBytes(size)
  const p = `${dir}/${name}`
  fs.writeFileSync(p, data)
  return { path: p, fd: fs.openSync(p, 'r'), sha256: crypto.createHash('sha256').update(data).digest('hex'), data }
}

/** What /proc/self/fd's entries point at, sorted (pipe:[…], socket:[…], paths). */
export function fdTargets(): string[] {
  const out: string[] = []
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      out.push(fs.readlinkSync(`/proc/self/fd/${name}`))
    } catch {
      // Closed between the listing and the read (the listing's own directory fd).
    }
  }
  return out.sort()
}
