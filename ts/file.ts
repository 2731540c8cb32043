// AsyncFile: the same class over either backend. It validates arguments, keeps the
// closed state, reserves append positions and routes every operation through the Io's
// limiter; the backend does the I/O.
import type { Socket } from 'node:net'
import { checkAligned, type DirectAlignment } from './direct'
import { invalidArgType, ioClosed, misaligned, withPath } from './errors'
import type { Backend, BackendFile } from './backends/backend'
import type { Limiter } from './limiter'
import type { MetricOp } from './metrics'
import type { PieceSource, SendUnit } from './sendto'
import { isSocketLike, sendtoModule, type SendCounters, type UnitSet } from './sendto-state'
import type { AppendResult, AsyncFile, IoBufferPool, ReadResult, WriteResult } from './types'
import { checkBuffer, checkOffset } from './validate'

/** What sendTo needs from the Io: its counters, its units (aborted by close) and its transfer tokens. */
export interface SendOwner {
  readonly counters: SendCounters
  readonly units: UnitSet
  /** At most maxTransfers zero-copy steps at once (each holds an engine slot, a dup and a pipe). */
  readonly transfers: Limiter
  /** The Io's buffer pool: aligned copy windows for O_DIRECT files. */
  readonly pool: IoBufferPool
}

/** What a file needs from the Io that opened it. */
export interface FileOwner {
  readonly impl: Backend
  readonly limiter: Limiter
  /** Throws ERR_IO_CLOSED once the Io is closing. */
  checkOpen(): void
  forget(file: File): void
  /** Runs one backend operation, recording its latency, bytes and outcome. */
  timed<R>(kind: MetricOp, io: () => Promise<R>, bytes?: (result: R) => number): Promise<R>
  /** Records one operation that started at `start` (performance.now()). */
  record(kind: MetricOp, start: number, bytes: number, failed: boolean): void
  readonly sends: SendOwner
}

/** Runs backend work under the limiter, recorded as `kind`. */
type Run = <R>(kind: MetricOp, io: (backend: Backend) => Promise<R>, bytes?: (result: R) => number) => Promise<R>

export class File implements AsyncFile {
  private closing: Promise<void> | null = null
  private running = 0
  private drained: (() => void) | null = null
  /** Append positions are reserved in-process, relative to the size at the first append. */
  private appendBase: Promise<number> | null = null
  private appendReserved = 0

  constructor(
    readonly owner: FileOwner,
    /** The backend's file; used by io.batch(). */
    readonly handle: BackendFile,
    readonly path: string,
    /** Set for O_DIRECT files: every transfer is checked against it first. */
    readonly direct: DirectAlignment | null = null,
  ) {}

  /** O_DIRECT files: throws ERR_IO_ALIGNMENT for a misaligned buffer or offset. */
  checkDirect(buf: Uint8Array, offset: number): void {
    if (this.direct !== null) checkAligned(this.direct, buf, offset, this.path)
  }

  readAt(buf: Buffer, offset: number): Promise<ReadResult> {
    const refused = this.refuse(() => {
      checkBuffer('buffer', buf)
      checkOffset('offset', offset)
      this.checkDirect(buf, offset)
    })
    if (refused !== null) return refused
    if (this.owner.limiter.tryAcquire(1)) return this.transfer('read', buf, offset)
    return this.limited(async (run) => ({ bytesRead: await run('read', (b) => b.read(this.handle, buf, offset), (n) => n), buffer: buf }))
  }

  writeAt(buf: Buffer, offset: number): Promise<WriteResult> {
    const refused = this.refuse(() => {
      checkBuffer('buffer', buf)
      checkOffset('offset', offset)
      checkOffset('offset + buffer.length', offset + buf.byteLength)
      this.checkDirect(buf, offset)
    })
    if (refused !== null) return refused
    if (this.owner.limiter.tryAcquire(1)) return this.transfer('write', buf, offset)
    return this.limited(async (run) => {
      await run('write', (b) => b.write(this.handle, buf, offset), () => buf.byteLength)
      return { bytesWritten: buf.byteLength, buffer: buf }
    })
  }

  /**
   * The hot path of readAt/writeAt when a limiter slot is free: the backend's promise
   * and one reaction (slot, metrics, close tracking, result shape) — where the general
   * path (`op`) chains six promises per operation. Same semantics.
   */
  private transfer(kind: 'read', buf: Buffer, offset: number): Promise<ReadResult>
  private transfer(kind: 'write', buf: Buffer, offset: number): Promise<WriteResult>
  private transfer(kind: 'read' | 'write', buf: Buffer, offset: number): Promise<ReadResult | WriteResult> {
    const owner = this.owner
    this.running++
    const start = performance.now()
    let io: Promise<unknown>
    try {
      io = kind === 'read' ? owner.impl.read(this.handle, buf, offset) : owner.impl.write(this.handle, buf, offset)
    } catch (err) {
      io = Promise.reject(err)
    }
    return io.then(
      (n) => {
        owner.limiter.release(1)
        const bytes = kind === 'read' ? (n as number) : buf.byteLength
        owner.record(kind, start, bytes, false)
        this.settled()
        return kind === 'read' ? { bytesRead: bytes, buffer: buf } : { bytesWritten: bytes, buffer: buf }
      },
      (err: unknown) => {
        owner.limiter.release(1)
        owner.record(kind, start, 0, true)
        this.settled()
        throw withPath(err, this.path)
      },
    )
  }

  append(buf: Buffer): Promise<AppendResult> {
    let relative = 0
    return this.op(() => {
      checkBuffer('buffer', buf)
      // The position is known later; whatever it is, the buffer must qualify.
      this.checkDirect(buf, 0)
      // Reserve synchronously, in call order, so concurrent appends never overlap.
      relative = this.appendReserved
      this.appendReserved += buf.byteLength
      this.appendBase ??= this.owner.limiter.run(() => this.owner.timed('fstat', () => this.owner.impl.size(this.handle)))
    }, async (run) => {
      // The base is awaited outside the limiter: holding a slot while waiting for the
      // size query (itself limited) could deadlock at queueDepth 1.
      const position = (await this.appendBase!) + relative
      checkOffset('append position', position + buf.byteLength)
      this.checkDirect(buf, position)
      await run('write', (b) => b.write(this.handle, buf, position), () => buf.byteLength)
      return { bytesWritten: buf.byteLength, buffer: buf, position }
    })
  }

  /**
   * Sends [position, position + length) of the file to `socket` (bytes past the end are
   * not sent); resolves the bytes sent. One unit on the socket, queued behind earlier
   * sendTo calls on it — or a part of the unit running in this async context (log.sendTo).
   */
  sendTo(socket: Socket, position: number, length: number): Promise<number> {
    const refused = this.refuse(() => {
      if (!isSocketLike(socket)) throw invalidArgType('socket', 'a net.Socket', socket)
      checkOffset('position', position)
      checkOffset('length', length)
      checkOffset('position + length', position + length)
      if (this.direct !== null) {
        // splice and sendfile read O_DIRECT files through the kernel's copy_splice_read,
        // which refuses unaligned ranges; v1 refuses them here, on every path.
        const a = this.direct.offset
        if (position % a !== 0) throw misaligned('offset', position, a, this.path)
        if (length % a !== 0) throw misaligned('buffer length', length, a, this.path)
      }
    })
    if (refused !== null) return refused
    if (length === 0) return Promise.resolve(0)
    const owner = this.owner
    const sends = owner.sends
    const src: PieceSource = {
      backend: owner.impl,
      handle: this.handle,
      limiter: owner.limiter,
      transfers: sends.transfers,
      counters: sends.counters,
      read: (buf, at) => this.track(owner.limiter.run(() => owner.impl.read(this.handle, buf, at))),
      window: (size) => {
        if (this.direct === null) return { buf: Buffer.allocUnsafe(size), done: () => {} }
        const buf = sends.pool.acquire(size)
        return { buf, done: () => sends.pool.release(buf) }
      },
    }
    const start = performance.now()
    let prefix = 0
    const { currentUnit, runUnit, sendPiece } = sendtoModule()
    const piece = (unit: SendUnit): Promise<number> => {
      if (this.closing !== null) return Promise.reject(ioClosed('file', this.path))
      try {
        owner.checkOpen()
      } catch (err) {
        return Promise.reject(err)
      }
      sends.units.add(unit)
      // A unit's prefix is counted by the Io of its first part.
      prefix = unit.prefixUncounted
      unit.prefixUncounted = 0
      sends.counters.prefixBytes += prefix
      return sendPiece(unit, src, position, length)
    }
    const joined = currentUnit(socket)
    const work = joined !== null ? piece(joined) : runUnit(socket, { sets: [sends.units] }, piece)
    return this.track(
      work.then(
        (n) => {
          owner.record('sendto', start, n + prefix, false)
          return n
        },
        (err: unknown) => {
          owner.record('sendto', start, 0, true)
          throw withPath(err, this.path)
        },
      ),
    )
  }

  syncData(): Promise<void> {
    return this.op(null, (run) => run('fdatasync', (b) => b.sync(this.handle, true)))
  }

  syncAll(): Promise<void> {
    return this.op(null, (run) => run('fsync', (b) => b.sync(this.handle, false)))
  }

  size(): Promise<number> {
    return this.op(null, (run) => run('fstat', (b) => b.size(this.handle)))
  }

  allocate(len: number, offset = 0): Promise<void> {
    return this.op(() => {
      checkOffset('len', len)
      checkOffset('offset', offset)
      checkOffset('offset + len', offset + len)
    }, (run) => run('fallocate', (b) => b.allocate(this.handle, offset, len)))
  }

  truncate(len: number): Promise<void> {
    return this.op(() => checkOffset('len', len), (run) => run('ftruncate', (b) => b.truncate(this.handle, len)))
  }

  /** Waits for this file's operations, then closes it. Closing twice is harmless. */
  close(): Promise<void> {
    this.closing ??= this.drain().then(() => {
      this.owner.forget(this)
      return this.owner.limiter.run(() => this.owner.timed('close', () => this.owner.impl.close(this.handle))).catch((err: unknown) => {
        throw withPath(err, this.path)
      })
    })
    return this.closing
  }

  get closed(): boolean {
    return this.closing !== null
  }

  private drain(): Promise<void> {
    if (this.running === 0) return Promise.resolve()
    return new Promise((resolve) => (this.drained = resolve))
  }

  /**
   * Runs one operation: argument checks and the closed check happen synchronously at
   * the call (so they reject before any I/O); `run` does backend work under the limiter.
   */
  private op<T>(check: (() => void) | null, work: (run: Run) => Promise<T>): Promise<T> {
    return this.refuse(check) ?? this.limited(work)
  }

  /**
   * The synchronous checks of an operation — the file and the Io open, then `check` —
   * as a rejected promise when one throws (so they reject before any I/O), else null.
   */
  private refuse(check: (() => void) | null): Promise<never> | null {
    try {
      this.checkOpen()
      this.owner.checkOpen()
      check?.()
      return null
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Runs checked work whose backend calls go through the limiter, as this file's. */
  private limited<T>(work: (run: Run) => Promise<T>): Promise<T> {
    const owner = this.owner
    const run: Run = (kind, io, bytes) => owner.limiter.run(() => owner.timed(kind, () => io(owner.impl), bytes))
    return this.track(
      work(run).catch((err: unknown) => {
        throw withPath(err, this.path)
      }),
    )
  }

  /** Throws ERR_IO_CLOSED when the file is closing (io.batch() checks its files). */
  checkOpen(): void {
    if (this.closing !== null) throw ioClosed('file', this.path)
  }

  /** Counts `work` as this file's, so close() waits for it. */
  track<T>(work: Promise<T>): Promise<T> {
    this.running++
    return work.finally(() => this.settled())
  }

  /** One of this file's operations settled; close() may go on once none is left. */
  private settled(): void {
    if (--this.running === 0 && this.drained) {
      const resolve = this.drained
      this.drained = null
      resolve()
    }
  }
}
