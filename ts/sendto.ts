// sendTo: file bytes to a socket (docs/design/zero-copy.md §5.3). A *unit* is what one
// sendTo call puts on a socket — for log.sendTo the prefix and every part of the slice —
// and units on one socket run one after another in call order, never interleaved:
//   queue    a per-socket FIFO (a WeakMap from socket to the tail of its chain);
//   lease    an AsyncLocalStorage holding the running unit, so that log.sendTo's parts,
//            sent through the public AsyncFile.sendTo, join the unit instead of queueing
//            behind it;
//   barrier  before a zero-copy piece, Node's own writes on the socket must have reached
//            the kernel (writableLength === 0); then the socket is corked for the rest of
//            the unit, so writes made meanwhile wait in the Writable and come after it;
//   failure  a unit that fails after it put anything on the socket destroys the socket
//            (without an error argument: destroy(err) would emit 'error', which crashes a
//            process that has no listener) — the peer got a truncated frame.
// Paths per piece: the backend's zero-copy path (splice on io_uring, sendfile(2) on the
// standard backend), else a copy through JavaScript (read windows, socket.write).
import type { AsyncLocalStorage } from 'node:async_hooks'
import type { Socket } from 'node:net'
import type { Backend, BackendFile, SendControl, SendStep } from './backends/backend'
import { socketGone } from './errors'
import type { Limiter } from './limiter'
import type { SendCounters, UnitSet } from './sendto-state'

/** The most one zero-copy step is asked to move: Node's idle timer is re-armed between steps. */
export const SENDTO_STEP_BYTES = 64 * 1024 * 1024
/** The copy path's read size; two windows are in flight. */
export const COPY_WINDOW_BYTES = 1024 * 1024

const EMPTY = Buffer.alloc(0)
const noop = (): void => {}

/**
 * The fd to splice/sendfile to, or null when there is none. Relies on Node internals
 * (README "Zero-copy sendTo"): net.Socket._handle is a TCP or Pipe wrap whose `fd` is
 * uv_fileno() (-22 once it is closed, and `_handle` is null after destroy()). TLSWrap's
 * `fd` is the *underlying TCP fd* (src/crypto/crypto_tls.cc TLSWrap::GetFD), so encrypted
 * sockets are excluded by class, never by fd value: splicing there would put plaintext
 * on a TLS connection — `encrypted` (every tls.TLSSocket sets it) and a handle that is not
 * a TCP/Pipe wrap (a TLSSocket's is a TLSWrap), each enough alone. node:tls is not
 * imported for an `instanceof`: loading it costs every process ~3 MiB of RSS (memory.spec
 * M1). Anything unexpected means the copy path, never a failure.
 */
export function descriptorOf(socket: object): number | null {
  if (process.platform !== 'linux') return null
  if ((socket as { encrypted?: unknown }).encrypted === true) return null
  const h = (socket as { _handle?: { fd?: unknown; constructor?: { name?: string } } | null })._handle
  if (h === null || h === undefined || typeof h !== 'object') return null
  const kind = h.constructor?.name
  if (kind !== 'TCP' && kind !== 'Pipe') return null
  const fd = h.fd
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : null
}

/**
 * The lease's store, made by the first unit: loading node:async_hooks costs every
 * process RSS (memory.spec M1 holds an idle Io to 8 MiB), and an Io that never sends
 * should not pay for it.
 */
let leaseStore: AsyncLocalStorage<SendUnit> | null = null
function lease(): AsyncLocalStorage<SendUnit> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  leaseStore ??= new (require('node:async_hooks') as typeof import('node:async_hooks')).AsyncLocalStorage<SendUnit>()
  return leaseStore
}
const tails = new WeakMap<object, Promise<void>>()

/** The unit running on `socket` in this async context (a log.sendTo's parts), or null. */
export function currentUnit(socket: object): SendUnit | null {
  if (leaseStore === null) return null // no unit has run yet
  const u = leaseStore.getStore()
  return u !== undefined && u.socket === socket && u.active ? u : null
}

export class SendUnit {
  readonly sets = new Set<UnitSet>()
  /** Between its turn and its end: parts may join it. */
  active = false
  settled = false
  /** Something of it was put on the socket (or submitted to be): failing now destroys the socket. */
  started = false
  corked = false
  failure: Error | null = null
  /** The running zero-copy step's control: fail() cancels it. */
  control: SendControl | null = null
  /** Prefix bytes not yet counted in an Io's metrics (counted by the first part). */
  prefixUncounted = 0
  /** Settles (never rejects) once the unit has ended and cleaned up. */
  done: Promise<void> = Promise.resolve()
  readonly aborted: Promise<never>
  private abort: (err: Error) => void = noop

  constructor(readonly socket: Socket) {
    this.aborted = new Promise<never>((_, reject) => (this.abort = reject))
    this.aborted.catch(noop)
  }

  /** Records the first reason the unit must stop and cancels the running step. */
  fail(err: Error): void {
    if (this.failure !== null || this.settled) return
    this.failure = err
    this.abort(err)
    const c = this.control
    if (c !== null && c.cancel !== null) c.cancel()
  }

  /** `p`, or the unit's failure if that comes first. */
  race<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.aborted])
  }

  /**
   * socket.write outside the lease (callbacks Node makes for it — a user's 'drain'
   * listener — must not inherit the unit and bypass the queue). `ok` is write()'s return
   * (false: wait for 'drain'); `written` settles in the write's callback.
   */
  write(buf: Buffer): { ok: boolean; written: Promise<void> } {
    let ok = false
    const written = new Promise<void>((resolve, reject) => {
      ok = lease().exit(() => this.socket.write(buf, (err) => (err ? reject(err) : resolve())))
    })
    written.catch(noop)
    return { ok, written }
  }

  /** Waits for 'drain' (or the unit's failure). */
  async drain(): Promise<void> {
    let listener = noop
    try {
      await this.race(new Promise<void>((resolve) => {
        listener = resolve
        this.socket.once('drain', resolve)
      }))
    } finally {
      this.socket.removeListener('drain', listener)
    }
  }

  /**
   * The write barrier of a zero-copy piece: waits until Node's own writes reached the
   * kernel (writableLength counts bytes until their write callback, queued in libuv or
   * not), then corks in the same synchronous continuation, so nothing else writes to the
   * fd until the unit ends.
   */
  async barrier(): Promise<void> {
    if (this.corked) return
    while (this.socket.writableLength > 0) await this.race(this.write(EMPTY).written)
    if (this.failure !== null) throw this.failure
    this.socket.cork()
    this.corked = true
  }

  /** The copy path writes through Node: a cork would hold them back too. */
  uncorkForCopy(): void {
    if (!this.corked) return
    this.corked = false
    this.socket.uncork()
  }

  async run<T>(prev: Promise<void>, prefix: Buffer | undefined, before: (() => void) | undefined, body: (unit: SendUnit) => Promise<T>): Promise<T> {
    const socket = this.socket
    const onError = (err: Error): void => this.fail(err)
    const onClose = (): void => this.fail(socketGone())
    let listening = false
    try {
      await this.race(prev)
      if (this.failure !== null) throw this.failure
      before?.()
      if (socket.destroyed || socket.writable === false) throw socketGone()
      if (socket.connecting === true) {
        let resolveConnect = noop
        try {
          await this.race(new Promise<void>((resolve) => {
            resolveConnect = resolve
            socket.once('connect', resolve)
          }))
        } finally {
          socket.removeListener('connect', resolveConnect)
        }
        if (socket.destroyed || !(socket.writable as boolean)) throw socketGone()
      }
      socket.once('error', onError)
      socket.once('close', onClose)
      listening = true
      this.active = true
      if (prefix !== undefined && prefix.length > 0) {
        this.started = true
        this.prefixUncounted = prefix.length
        await this.race(this.write(prefix).written)
      }
      const result = await lease().run(this, () => body(this))
      if (this.failure !== null) throw this.failure
      return result
    } catch (err) {
      const reason = this.failure ?? err
      if (this.started && !socket.destroyed) socket.destroy()
      throw reason
    } finally {
      this.active = false
      this.settled = true
      if (this.corked) {
        this.corked = false
        socket.uncork()
      }
      if (listening) {
        socket.removeListener('error', onError)
        socket.removeListener('close', onClose)
      }
      for (const s of this.sets) s.delete(this)
    }
  }
}

/**
 * Runs `body` as one unit on `socket`, after the units called before it on that socket:
 * `before` (checks that may refuse it, socket untouched) at its turn, then the prefix,
 * then `body` inside the lease. `sets` may abort it (Io.close, log.close).
 */
export function runUnit<T>(socket: Socket, opts: { prefix?: Buffer; before?: () => void; sets: UnitSet[] }, body: (unit: SendUnit) => Promise<T>): Promise<T> {
  const unit = new SendUnit(socket)
  for (const s of opts.sets) s.add(unit)
  const prev = tails.get(socket) ?? Promise.resolve()
  const result = unit.run(prev, opts.prefix, opts.before, body)
  const tail = result.then(noop, noop)
  unit.done = tail
  tails.set(socket, tail)
  // An idle socket holds nothing here.
  void tail.then(() => {
    if (tails.get(socket) === tail) tails.delete(socket)
  })
  return result
}

/** What a piece needs from the file it comes from (ts/file.ts). */
export interface PieceSource {
  readonly backend: Backend
  readonly handle: BackendFile
  readonly limiter: Limiter
  readonly transfers: Limiter
  readonly counters: SendCounters
  /** A read of the file under the limiter, counted as the file's (close waits for it). */
  read(buf: Buffer, position: number): Promise<number>
  /**
   * A copy window of at least `size` bytes and what to do once its write's callback fired:
   * a fresh Buffer (nothing to do), or for O_DIRECT files an aligned io.pool buffer (released).
   */
  window(size: number): { buf: Buffer; done: () => void }
}

/**
 * Sends [position, position + length) of the file as part of `unit`; resolves the bytes
 * sent (fewer only at end of file). Rejects with the unit's failure when it has one.
 */
export async function sendPiece(unit: SendUnit, src: PieceSource, position: number, length: number): Promise<number> {
  if (unit.failure !== null) throw unit.failure
  const fd = descriptorOf(unit.socket)
  if (fd === null) {
    src.counters.noDescriptor++
    return copyPiece(unit, src, position, length)
  }
  if (src.backend.sendPath === null) {
    src.counters.noAddon++
    return copyPiece(unit, src, position, length)
  }
  await unit.barrier()
  return zeroCopyPiece(unit, src, position, length)
}

function count(c: SendCounters, step: SendStep): void {
  c[step.path] += step.bytes
  if (step.fallback === 'no_splice') c.noSplice++
  else if (step.fallback === 'ring_failed') c.ringFailed++
}

async function zeroCopyPiece(unit: SendUnit, src: PieceSource, position: number, length: number): Promise<number> {
  const socket = unit.socket
  let sent = 0
  while (sent < length) {
    if (unit.failure !== null) throw unit.failure
    const ask = Math.min(length - sent, SENDTO_STEP_BYTES)
    const at = position + sent
    const control: SendControl = { cancel: null }
    let step: SendStep
    try {
      step = await src.transfers.run(() =>
        src.limiter.run(() => {
          if (unit.failure !== null) return Promise.reject(unit.failure)
          unit.started = true
          unit.control = control
          // The descriptor is read inside sendFile, in the run that dups it.
          return src.backend.sendFile(src.handle, () => descriptorOf(socket), at, ask, control)
        }),
      )
    } finally {
      unit.control = null
    }
    count(src.counters, step)
    sent += step.bytes
    if (unit.failure !== null) throw unit.failure
    // Zero bytes and no failure: end of file. A short step otherwise (a ring that stopped
    // part-way, the 16 MiB sendfile task) goes on from where it stopped.
    if (step.bytes === 0) break
    // Node's idle timer never sees these bytes: re-arm it between steps.
    const timeout = (socket as { timeout?: number }).timeout
    if (typeof timeout === 'number' && timeout > 0) socket.setTimeout(timeout)
  }
  return sent
}

/**
 * The copy path: windows of COPY_WINDOW_BYTES read into fresh buffers (never reused
 * before their write's callback), two in flight, written with 'drain' backpressure. Not
 * corked (a cork would hold these writes too), so a user's write made meanwhile may land
 * between two windows (README).
 */
async function copyPiece(unit: SendUnit, src: PieceSource, position: number, length: number): Promise<number> {
  unit.uncorkForCopy()
  const end = position + length
  let next = position
  const reads: Array<{ want: number; got: Promise<Buffer>; done: () => void }> = []
  const startRead = (): void => {
    const want = Math.min(COPY_WINDOW_BYTES, end - next)
    const w = src.window(want)
    const buf = w.buf.subarray(0, want)
    const got = src.read(buf, next).then((n) => buf.subarray(0, n))
    got.catch(noop)
    reads.push({ want, got, done: w.done })
    next += want
  }
  startRead()
  if (next < end) startRead()
  let sent = 0
  let last: Promise<void> = Promise.resolve()
  try {
    while (reads.length > 0) {
      const r = reads[0]
      const b = await unit.race(r.got)
      reads.shift()
      if (unit.failure !== null || b.length === 0) {
        r.done()
        if (unit.failure !== null) throw unit.failure
        break
      }
      const full = b.length === r.want
      if (full && next < end) startRead()
      unit.started = true
      const w = unit.write(b)
      // The window is given back (O_DIRECT: to io.pool) only once Node is done with it.
      void w.written.then(r.done, r.done)
      last = w.written
      sent += b.length
      src.counters.copy += b.length
      if (!w.ok) await unit.drain()
      if (!full) break // end of file
    }
  } finally {
    // Windows never written (a failure, end of file) go back once their reads settled.
    for (const r of reads.splice(0)) void r.got.then(r.done, r.done)
  }
  await unit.race(last)
  if (unit.failure !== null) throw unit.failure
  return sent
}
