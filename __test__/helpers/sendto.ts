// Sockets for the sendTo tests (sendto.spec.ts and its child fixtures): a real TCP
// connection on 127.0.0.1 whose client side collects what arrives (a sha256 and a count,
// and the bytes themselves when asked), a TLS one with PSK (no certificate files), and
// /proc/self/fd accounting.

import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'

/** What the receiving side got so far. */
export class Receiver {
  private readonly hash = crypto.createHash('sha256')
  private readonly chunks: Buffer[] = []
  private n = 0
  private waiters: Array<{ at: number; resolve: () => void }> = []
  private endedFlag = false
  private readonly endWaiters: Array<() => void> = []

  constructor(
    readonly socket: net.Socket,
    private readonly keep: boolean,
  ) {
    socket.on('data', (d: Buffer) => {
      this.hash.update(d)
      if (this.keep) this.chunks.push(d)
      this.n += d.length
      this.waiters = this.waiters.filter((w) => {
        if (this.n < w.at) return true
        w.resolve()
        return false
      })
    })
    const end = (): void => {
      if (this.endedFlag) return
      this.endedFlag = true
      for (const w of this.waiters) w.resolve()
      this.waiters = []
      for (const e of this.endWaiters) e()
    }
    socket.on('end', end)
    socket.on('close', end)
    socket.on('error', () => {})
  }

  get count(): number {
    return this.n
  }

  /** Everything received (keep: true only). */
  bytes(): Buffer {
    if (!this.keep) throw new Error('this receiver keeps no bytes (tcpPair with keep: true)')
    return Buffer.concat(this.chunks)
  }

  /** sha256 (hex) of everything received; call once, when everything is in. */
  digest(): string {
    return this.hash.digest('hex')
  }

  /** Resolves once `n` bytes have arrived, or the connection ended (check count). */
  until(n: number): Promise<void> {
    if (this.n >= n || this.endedFlag) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push({ at: n, resolve }))
  }

  ended(): Promise<void> {
    if (this.endedFlag) return Promise.resolve()
    return new Promise((resolve) => this.endWaiters.push(resolve))
  }
}

export interface Pair {
  /** The accepted socket: what the tests sendTo (a broker's connection). */
  server: net.Socket
  /** The connecting socket, reading. */
  client: net.Socket
  rx: Receiver
  /** Destroys both sockets and closes the listener. */
  close(): Promise<void>
}

type Teardown = { teardown(fn: () => unknown): void }

/** A TCP connection on 127.0.0.1; `paused`: the client does not read until rx.socket.resume(). */
export async function tcpPair(t: Teardown | null, opts: { keep?: boolean; paused?: boolean } = {}): Promise<Pair> {
  const listener = net.createServer()
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const port = (listener.address() as net.AddressInfo).port
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve))
  const client = net.connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
  })
  const server = await accepted
  server.on('error', () => {})
  const rx = new Receiver(client, opts.keep === true)
  if (opts.paused === true) client.pause()
  const close = async (): Promise<void> => {
    client.destroy()
    server.destroy()
    await new Promise<void>((resolve) => listener.close(() => resolve()))
  }
  t?.teardown(close)
  return { server, client, rx, close }
}

const PSK = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
const PSK_CIPHERS = 'PSK-AES128-GCM-SHA256'

/** A TLS 1.2 connection with a pre-shared key (no certificates) on 127.0.0.1. */
export async function tlsPair(t: Teardown | null, opts: { keep?: boolean } = {}): Promise<Pair> {
  const listener = tls.createServer({ pskCallback: () => PSK, ciphers: PSK_CIPHERS, maxVersion: 'TLSv1.2' })
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const port = (listener.address() as net.AddressInfo).port
  const accepted = new Promise<tls.TLSSocket>((resolve) => listener.once('secureConnection', resolve))
  const client = tls.connect({
    port,
    host: '127.0.0.1',
    ciphers: PSK_CIPHERS,
    maxVersion: 'TLSv1.2',
    pskCallback: () => ({ psk: PSK, identity: 'sendto-test' }),
    checkServerIdentity: () => undefined,
  })
  await new Promise<void>((resolve, reject) => {
    client.once('secureConnect', resolve)
    client.once('error', reject)
  })
  const server = await accepted
  server.on('error', () => {})
  const rx = new Receiver(client, opts.keep === true)
  const close = async (): Promise<void> => {
    client.destroy()
    server.destroy()
    await new Promise<void>((resolve) => listener.close(() => resolve()))
  }
  t?.teardown(close)
  return { server, client, rx, close }
}

/** What each entry of /proc/self/fd links to ('pipe:[…]', 'socket:[…]', 'anon_inode:[io_uring]', paths). */
export function fdTargets(): string[] {
  const out: string[] = []
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      out.push(fs.readlinkSync(`/proc/self/fd/${fd}`))
    } catch {
      // the descriptor readdir used itself, gone already
    }
  }
  return out.sort()
}

/** The fds' targets whose kind (pipe:, socket:, anon_inode:) the leak checks count. */
export function countedTargets(): string[] {
  return fdTargets().filter((x) => x.startsWith('pipe:') || x.startsWith('socket:') || x.startsWith('anon_inode:'))
}

/** 'socket:[inode]' of the socket `s` (by its fd), or null when it has none. */
export function socketInode(s: net.Socket): string | null {
  const fd = (s as unknown as { _handle?: { fd?: number } | null })._handle?.fd
  if (typeof fd !== 'number' || fd < 0) return null
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`)
  } catch {
    return null
  }
}

/** sha256 (hex) of `b`. */
export function sha256(b: Uint8Array): string {
  return crypto.createHash('sha256').update(b).digest('hex')
}

/** A file of `size` pseudo-random bytes (fast: 1 MiB of randomness repeated with a varying stamp). */
export function writeDataFile(file: string, size: number, seed: number): Buffer {
  const base = crypto.createHash('sha256').update(String(seed)).digest()
  const block = Buffer.allocUnsafe(1 << 20)
  for (let i = 0; i < block.length; i += 32) base.copy(block, i, 0, Math.min(32, block.length - i))
  for (let i = 0; i < block.length; i += 4096) block.writeUInt32LE((i * 2654435761) >>> 0, i)
  const out = Buffer.allocUnsafe(size)
  for (let at = 0; at < size; at += block.length) {
    const n = Math.min(block.length, size - at)
    block.copy(out, at, 0, n)
    // Each MiB differs from the others: a misplaced MiB changes the hash.
    if (n >= 12) out.writeUInt32LE((at / block.length + seed * 7919) >>> 0, at + 8)
  }
  fs.writeFileSync(file, out)
  return out
}
