// openIo: detects the backend, starts it, and hands out AsyncFiles. The Io owns the
// limiter (queueDepth), the set of open files and the backend's lifetime.
import fs from 'node:fs'
import { resolveConfig } from './config'
import { debug } from './debug'
import { detect, explainSetupFailure } from './detect'
import { directUnavailable, invalidArgType, ioClosed, withPath } from './errors'
import { openDirect, type DirectAlignment } from './direct'
import type { NativeAddon } from './native'
import { BufferPool } from './pool'
import { alignedMemory, plainMemory } from './pool-memory'
import { type Backend, type BatchOp, type BatchResult, type BufferRegistration, type OpenKind } from './backends/backend'
import { Batch, type BatchOwner } from './batch'
import { NativeBackend, ProtocolMismatch } from './backends/native'
import { StandardBackend } from './backends/standard'
import { File, type FileOwner, type SendOwner } from './file'
import { Limiter } from './limiter'
import { Metrics, type IoMetrics, type MetricOp, type SendToMetrics } from './metrics'
import { SendCounters, UnitSet } from './sendto-state'
import type { AsyncFile, Io, IoBatch, IoConfig, KernelInfo, OpenOptions } from './types'
import { checkOpenOptions, checkPath } from './validate'

/**
 * Zero-copy sendTo steps in flight at most: each holds an engine slot for as long as the
 * reader takes, a dup and a pipe, so disk I/O keeps room (docs/design/zero-copy.md §5.6).
 */
export function maxTransfers(queueDepth: number): number {
  return Math.max(1, Math.min(256, Math.floor(queueDepth / 2)))
}

class IoImpl implements Io, FileOwner, BatchOwner {
  readonly limiter: Limiter
  readonly sends: SendOwner
  readonly pool: BufferPool
  private readonly stats: Metrics
  private readonly files = new Set<File>()
  private closing: Promise<void> | null = null

  constructor(
    readonly impl: Backend,
    readonly fallbackReason: string | null,
    readonly kernel: KernelInfo,
    readonly config: Readonly<IoConfig>,
    /** The native addon when loaded (aligned pool memory, O_DIRECT checks); either backend. */
    private readonly addon: NativeAddon | null,
  ) {
    this.limiter = new Limiter(config.queueDepth)
    const memory = addon === null
      ? plainMemory()
      : alignedMemory(addon, !impl.registersBuffers ? {} : {
        register: (buf) => impl.registerBuffer(buf),
        unregister: (registration) => impl.unregisterBuffer(registration as BufferRegistration),
      })
    this.pool = new BufferPool(config.sizeClasses, config.bufferPoolSize, memory)
    this.sends = { counters: new SendCounters(), units: new UnitSet(), transfers: new Limiter(maxTransfers(config.queueDepth)), pool: this.pool }
    const io = this
    this.stats = new Metrics({
      get backend() {
        return io.backend
      },
      get inFlight() {
        return io.limiter.inFlight
      },
      get queued() {
        return io.limiter.queued
      },
      get fallbacks() {
        return io.impl.degradedOps
      },
      get registeredBufferHits() {
        return io.impl.registeredBufferHits()
      },
      get sendTo(): SendToMetrics {
        const c = io.sends.counters
        return {
          bytes: { splice: c.splice, sendfile: c.sendfile, copy: c.copy },
          prefixBytes: c.prefixBytes,
          fallbacks: { noDescriptor: c.noDescriptor, noAddon: c.noAddon, noSplice: c.noSplice, ringFailed: c.ringFailed },
          writableWaits: io.impl.writableWaits(),
          inFlight: io.sends.units.size,
        }
      },
    })
  }

  metrics(): IoMetrics {
    return this.stats.snapshot()
  }

  prometheus(): string {
    return this.stats.prometheus()
  }

  record(kind: MetricOp, start: number, bytes: number, failed: boolean): void {
    this.stats.record(kind, start, bytes, failed)
  }

  timed<R>(kind: MetricOp, io: () => Promise<R>, bytes?: (result: R) => number): Promise<R> {
    const start = performance.now()
    let work: Promise<R>
    try {
      work = io()
    } catch (err) {
      work = Promise.reject(err)
    }
    return work.then(
      (result) => {
        this.stats.record(kind, start, bytes === undefined ? 0 : bytes(result), false)
        return result
      },
      (err: unknown) => {
        this.stats.record(kind, start, 0, true)
        throw err
      },
    )
  }

  get backend(): 'io_uring' | 'standard' {
    return this.impl.name
  }

  get degradedOps(): number {
    return this.impl.degradedOps
  }

  open(path: string, opts?: OpenOptions): Promise<AsyncFile> {
    return this.openAs(path, 'read', opts)
  }
  openRw(path: string, opts?: OpenOptions): Promise<AsyncFile> {
    return this.openAs(path, 'readWrite', opts)
  }
  create(path: string, opts?: OpenOptions): Promise<AsyncFile> {
    return this.openAs(path, 'create', opts)
  }
  openAppend(path: string, opts?: OpenOptions): Promise<AsyncFile> {
    return this.openAs(path, 'append', opts)
  }

  get queueDepth(): number {
    return this.config.queueDepth
  }

  batch(): IoBatch {
    return new Batch(this)
  }

  runBatch(ops: BatchOp[], files: File[]): Promise<BatchResult[]> {
    try {
      this.checkOpen()
      for (const f of files) {
        if (f.owner !== this) throw invalidArgType('file', 'an AsyncFile opened by the same Io as the batch', f)
        f.checkOpen()
      }
    } catch (err) {
      return Promise.reject(err)
    }
    this.stats.recordBatch(ops.length)
    const run = this.limiter.run(() => this.timedBatch(ops), ops.length).then((results) =>
      results.map((r, i) => (r.ok ? r : { ok: false as const, error: withPath(r.error, files[i].path) })),
    )
    // Every file of the batch waits for it before closing.
    for (const f of new Set(files)) void f.track(run).catch(() => {})
    return run
  }

  /** A batch's operations are recorded one by one, each with the batch's latency. */
  private async timedBatch(ops: BatchOp[]): Promise<BatchResult[]> {
    const start = performance.now()
    const results = await this.impl.batch(ops)
    results.forEach((r, i) => {
      const kind: MetricOp = ops[i].kind === 'syncData' ? 'fdatasync' : ops[i].kind
      this.stats.record(kind, start, r.ok ? r.bytes : 0, !r.ok)
    })
    return results
  }

  checkOpen(): void {
    if (this.closing !== null) throw ioClosed('Io')
  }

  forget(file: File): void {
    this.files.delete(file)
  }

  /** Drains in-flight work, closes the files still open, stops the ring threads. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Transfers first: a paused reader would otherwise keep the drain below waiting
      // forever. Their units reject ERR_IO_CLOSED; sockets with partial frames are destroyed.
      await this.sends.units.abortAll(ioClosed('Io'))
      await this.limiter.idle()
      const open = [...this.files]
      await Promise.allSettled(open.map((f) => f.close()))
      await this.limiter.idle()
      // The pool first: from here on nothing registers, and an update the rings' end
      // leaves unanswered counts as neither registered nor failed.
      this.pool.detach()
      await this.impl.shutdown()
    })()
    return this.closing
  }

  private async openAs(path: string, kind: OpenKind, opts: OpenOptions | undefined): Promise<AsyncFile> {
    this.checkOpen()
    checkPath('path', path)
    const { direct, mode } = checkOpenOptions(opts)
    const open = (withDirect: boolean) => this.limiter.run(() => this.timed('open', () => this.impl.open(path, kind, mode, withDirect)))
    let handle
    let alignment: DirectAlignment | null = null
    if (direct === false) {
      handle = await open(false)
    } else if (this.addon === null) {
      if (direct === true) throw directUnavailable(`the native addon is not loaded, so buffers cannot be checked or aligned (${this.fallbackReason ?? 'no addon'}); open '${path}' without { direct: true }`)
      handle = await open(false)
    } else {
      // open(2) with O_CREAT creates the file before the file system refuses O_DIRECT:
      // a refused open must not leave behind a file the caller never got.
      const creates = kind === 'create' || kind === 'append'
      const existed = creates && fs.existsSync(path)
      const opened = await openDirect(this.addon, () => open(true), (h) => this.impl.close(h))
      if (!opened.ok && creates && !existed) fs.rmSync(path, { force: true })
      if (opened.ok) {
        handle = opened.handle
        alignment = opened.alignment
      } else if (direct === true) {
        throw directUnavailable(`the file system of '${path}' refuses it (${opened.why}); open it without { direct: true }, or with direct: 'prefer'`)
      } else {
        debug("O_DIRECT refused for '%s' (%s): opened without it", path, opened.why)
        handle = await open(false)
      }
    }
    const file = new File(this, handle, path, alignment)
    if (this.closing !== null) {
      // The Io began closing while this open was in flight: do not leak the descriptor.
      await file.close().catch(() => {})
      throw ioClosed('Io')
    }
    this.files.add(file)
    return file
  }
}

/**
 * Opens an Io with the configuration `loadConfig(overrides, process.env, [])`: io_uring
 * where the kernel allows it, the standard backend otherwise (see `fallbackReason`).
 * Settings are checked against the native layer's limits on both backends alike (a
 * value past one is ERR_IO_CONFIG, never a silent fallback).
 */
export async function openIo(overrides: Partial<IoConfig> = {}): Promise<Io> {
  const { config, env, addon: load, limits } = resolveConfig(overrides, process.env, [])
  const hooks = env.values
  const detection = detect(config, load, hooks)
  let backend: Backend = new StandardBackend(limits.values, load.addon)
  let reason = detection.reason
  if (detection.backend === 'io_uring' && load.addon !== null) {
    try {
      backend = new NativeBackend(load.addon, load.protocol, config, {
        engine: hooks.engine,
        engineSource: env.sources.engine,
        testSetupErrno: hooks.testSetupErrno,
        testRingFailAfter: hooks.testRingFailAfter,
      })
    } catch (err) {
      const errno = (err as { errno?: number }).errno
      reason = err instanceof ProtocolMismatch
        ? err.message
        : typeof errno === 'number' && errno > 0 ? explainSetupFailure(errno, hooks.testProcStatus) : `io_uring ring setup failed: ${(err as Error).message}`
    }
  }
  const kernel = { ...detection.kernel, ring: backend.ringSetup() }
  debug('kernel %s, backend %s%s', kernel.release, backend.name, reason === null ? '' : ` (${reason})`)
  return new IoImpl(backend, reason, kernel, Object.freeze({ ...config, sizeClasses: [...config.sizeClasses] }), load.addon)
}
