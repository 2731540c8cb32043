// The io_uring backend: operations issued within one tick are coalesced into one
// native submit() per ring; completions come back in batches, one JavaScript call for
// many (DESIGN.md §4). Two engine modes (ARCHITECTURE.md §2):
//   inline  the JavaScript thread submits with io_uring_enter and gets back what
//           completed inside it (page-cache reads/writes, NOPs) from submit() itself;
//           later completions arrive through onComplete from a poll handle on the loop.
//   thread  a ring thread per `ioWorkers`; every operation hops JS → ring thread
//           (eventfd) → JS (threadsafe function).
// This is the one file of ts/ that knows the wire format of submit(): it reads the
// operation kinds, the descriptor layout, LINK and RESULT_RING_FAILED from the addon's
// protocol() (class Wire) and restates none of them.
import { cqEntriesFor, type EnvSettings } from '../config'
import { debug } from '../debug'
import { errnoName, systemError, withPath } from '../errors'
import type { EngineHandle, EngineInfo, EngineOptions, NativeAddon, Protocol } from '../native'
import type { IoConfig, RingReport, RingSetup } from '../types'
import { openFlags, type Backend, type BackendFile, type BatchOp, type BatchResult, type BufferRegistration, type OpenKind, type SendControl, type SendPath, type SendStep } from './backend'
import { runChains, runOnBackend } from './chains'
import { fdOps, type FdOps } from './fd-ops'
import { descriptorNow, sendfileHelpers, sendfileRange, type SendfileHelpers } from './sendfile'

/** The operations this backend sends, by their key in protocol().kinds. */
const KIND_KEYS = ['read', 'write', 'fsync', 'fdatasync', 'fallocate', 'ftruncate', 'size', 'open', 'close', 'nop', 'registerBuffer', 'unregisterBuffer'] as const
type KindKey = (typeof KIND_KEYS)[number]
/**
 * Kinds this backend sends only when the addon has them (sendTo's splice path). Not in
 * KIND_KEYS: an addon without them would otherwise be a ProtocolMismatch and fall back
 * whole, where only sendTo needs them (it then uses sendfile, counted no_splice).
 */
const OPTIONAL_KIND_KEYS = ['sendFile', 'cancel'] as const
type OptionalKindKey = (typeof OPTIONAL_KIND_KEYS)[number]
/** The descriptor fields this backend fills, by their name in protocol().fields. */
const FIELD_NAMES = ['id', 'kind', 'fd', 'offset', 'len', 'arg', 'flags'] as const
type FieldName = (typeof FIELD_NAMES)[number]

const SYSCALL: Record<KindKey, string> = {
  read: 'read',
  write: 'write',
  fsync: 'fsync',
  fdatasync: 'fdatasync',
  fallocate: 'fallocate',
  ftruncate: 'ftruncate',
  size: 'fstat',
  open: 'open',
  close: 'close',
  nop: 'nop',
  registerBuffer: 'io_uring_register',
  unregisterBuffer: 'io_uring_register',
}

/** The addon's protocol() lacks something this backend sends: openIo falls back, saying so. */
export class ProtocolMismatch extends Error {}

/**
 * submit()'s wire format, as the addon's protocol() defines it (crates/binding/src/
 * protocol.rs): a descriptor is `stride` numbers per operation, field `f` at `at[f]`;
 * operation kinds by key; the LINK flag bit; the result that means "the ring failed".
 */
export class Wire {
  readonly stride: number
  readonly at: Readonly<Record<FieldName, number>>
  readonly kind: Readonly<Record<KindKey, number>>
  /** sendFile / cancel, or null each when the addon lacks it. */
  readonly optional: Readonly<Record<OptionalKindKey, number | null>>
  readonly link: number
  readonly ringFailed: number
  private readonly keys = new Map<number, KindKey>()

  constructor(p: Protocol) {
    const int = (v: unknown): v is number => Number.isSafeInteger(v)
    const fields: unknown[] = Array.isArray(p.fields) ? p.fields : []
    const lackedKinds = KIND_KEYS.filter((k) => !int(p.kinds?.[k]))
    const lackedFields = FIELD_NAMES.filter((f) => !fields.includes(f))
    const lacked = [
      lackedKinds.length > 0 ? `operation kinds ${lackedKinds.join(', ')}` : '',
      lackedFields.length > 0 ? `descriptor fields ${lackedFields.join(', ')}` : '',
      !int(p.stride) || p.stride < fields.length ? 'a stride holding its fields' : '',
      !int(p.flags?.link) ? 'flags.link' : '',
      !int(p.resultRingFailed) ? 'resultRingFailed' : '',
    ].filter((w) => w !== '')
    if (lacked.length > 0) {
      throw new ProtocolMismatch(`the native addon's protocol() lacks ${lacked.join(' and ')} (a stale build? run 'npm run build:native')`)
    }
    this.stride = p.stride
    this.at = Object.freeze(Object.fromEntries(FIELD_NAMES.map((f) => [f, p.fields.indexOf(f)])) as Record<FieldName, number>)
    this.kind = Object.freeze(Object.fromEntries(KIND_KEYS.map((k) => [k, p.kinds[k]])) as Record<KindKey, number>)
    for (const k of KIND_KEYS) this.keys.set(p.kinds[k], k)
    this.optional = Object.freeze(Object.fromEntries(OPTIONAL_KIND_KEYS.map((k) => [k, int(p.kinds?.[k]) ? p.kinds[k] : null])) as Record<OptionalKindKey, number | null>)
    this.link = p.flags.link
    this.ringFailed = p.resultRingFailed
  }

  /** The key of kind number `kind` (one this backend sent). */
  keyOf(kind: number): KindKey {
    return this.keys.get(kind)!
  }

  /** Buffer-table updates: sent in a native call of their own, never degraded. */
  isTableUpdate(kind: number): boolean {
    return kind === this.kind.registerBuffer || kind === this.kind.unregisterBuffer
  }
}

class NativeFile implements BackendFile {
  constructor(
    readonly path: string,
    readonly fd: number,
    /** Index of the ring this file is pinned to (its fixed-file slot lives there). */
    readonly ring: number,
  ) {}
}

interface Op {
  /** Resolve with the raw result (including -errno and RESULT_RING_FAILED): batch(). */
  raw: boolean
  /** IOSQE_IO_LINK to the next operation of the same submit. */
  link: boolean
  /** A number of protocol().kinds. */
  kind: number
  fd: number
  offset: number
  len: number
  arg: number
  extra: Uint8Array | string | undefined
  path: string
  resolve: (result: number) => void
  reject: (err: unknown) => void
  /** A batch()'s operations settle through their group: one promise per batch. */
  group: Group | null
  /** This operation's place in its group's results. */
  index: number
}

/** The raw results of one batch's operations, settled together. */
class Group {
  private pending: number
  private readonly results: number[]

  constructor(
    size: number,
    private readonly resolve: (results: number[]) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    this.pending = size
    this.results = new Array<number>(size)
  }

  settle(index: number, result: number): void {
    this.results[index] = result
    if (--this.pending === 0) this.resolve(this.results)
  }

  /** The native call refused the operations (nothing of them was submitted). */
  fail(err: unknown): void {
    if (this.pending > 0) {
      this.pending = -1
      this.reject(err)
    }
  }
}

const NOOP = (): void => {}

interface Ring {
  engine: EngineHandle
  /** Set when the ring reported RESULT_RING_FAILED: later operations take the fd path. */
  failed: boolean
  /** Operations of the current tick, submitted together at the microtask checkpoint. */
  batch: number[]
  /** Whether `batch` holds buffer-table updates (sent in a native call of their own). */
  tableOps: boolean
}

/**
 * Flushes per event-loop turn before the next one waits for setImmediate. Inline
 * completions resolve promises inside the flush's microtask, and a loop of awaits
 * on cached reads then submits again from the same microtask checkpoint — forever,
 * starving timers and I/O (measured: `while (!stop) await f.readAt(…)` with a
 * setTimeout-driven `stop` never ended). Every MAX_FLUSHES_PER_TURN flushes the next
 * one yields to the event loop instead; 64 keeps the cost (one setImmediate per ~2,000
 * operations at QD 32) out of the measurements.
 */
const MAX_FLUSHES_PER_TURN = 64

/** What an operation still waiting when the rings are destroyed settles with. */
const ESHUTDOWN = 108
const ECANCELED = 125

/** Registered-file slots per ring (at most protocol().limits.maxFixedFileSlots); files beyond them use their plain fd. */
const FIXED_FILE_SLOTS = 4096

/**
 * Registered-buffer slots per ring: room for every buffer the pool keeps plus as many
 * again in use, at most `maxSlots` (protocol().limits.maxFixedBufferSlots, the kernel's
 * IORING_MAX_REG_BUFFERS). Buffers beyond it stay plain (counted by the pool).
 */
export function fixedBufferSlots(config: IoConfig, maxSlots: number): number {
  return Math.min(maxSlots, Math.max(64, 2 * config.bufferPoolSize * config.sizeClasses.length))
}

/** What this backend takes from ts/config.ts's environment-only settings. */
export interface NativeBackendEnv {
  /** STREAMLINE_IO_ENGINE (or its default) and where it came from. */
  engine: EnvSettings['engine']
  engineSource: 'default' | 'env'
  /** Test hook (STREAMLINE_IO_TEST_SETUP_ERRNO): ring setup fails with this errno; 0 = off. */
  testSetupErrno: number
  /** Test hook (STREAMLINE_IO_TEST_RING_FAIL_AFTER): the ring fails after this many requests; 0 = off. */
  testRingFailAfter: number
}

/** What a refused buffer registration or buffer table means, by errno (pool.stats(), io.kernel.ring). */
const BUFFER_REFUSALS: Record<number, string> = {
  12 /* ENOMEM */: 'registered buffers count against RLIMIT_MEMLOCK for users without CAP_IPC_LOCK',
  105 /* ENOBUFS */: "the ring's registered-buffer table is full",
}
/** What a refused fixed-file table means, by errno (io.kernel.ring). */
const FILE_TABLE_REFUSALS: Record<number, string> = {
  24 /* EMFILE */: 'the table is larger than RLIMIT_NOFILE allows',
}

/** A registered buffer: its slot in each ring's table, in ring order. */
type Slots = number[]

export class NativeBackend implements Backend {
  readonly name = 'io_uring' as const
  readonly registersBuffers = true
  readonly mode: EnvSettings['engine']
  readonly sendPath: SendPath | null
  degradedOps = 0
  /** sendfile's helpers: the path when the rings cannot splice, or after one failed. */
  private readonly helpers: SendfileHelpers | null
  /** Whether sendFile runs on the rings (both kinds in the protocol, every ring's spliceOp). */
  private readonly splice: boolean
  private readonly sendCounters = { writableWaits: 0 }
  /** The engines' POLL_ADDs, kept when they are destroyed. */
  private pollsAtShutdown: number | null = null
  private readonly rings: Ring[] = []
  private nextRing = 0
  private readonly ops: Array<Op | undefined> = []
  private readonly freeIds: number[] = []
  private flushScheduled = false
  /** Flushes since the event loop last ran a setImmediate (see MAX_FLUSHES_PER_TURN). */
  private flushesThisTurn = 0
  private turnWatch = false
  /** fixedOps of the rings, kept when they are destroyed. */
  private fixedOpsAtShutdown: number | null = null
  private readonly wire: Wire
  /** node:fs on a ring's descriptors, for operations its failed ring could not run. */
  private readonly fd: FdOps
  private readonly setup: RingSetup

  /**
   * Starts the rings (`ioWorkers` in thread mode, one inline); throws (with .errno) when
   * a ring cannot be set up, ProtocolMismatch when the addon's protocol() lacks what this
   * backend sends. `config` was checked against `protocol.limits` by ts/config.ts.
   */
  constructor(
    private readonly addon: NativeAddon,
    protocol: Readonly<Protocol>,
    config: IoConfig,
    env: NativeBackendEnv,
  ) {
    this.wire = new Wire(protocol)
    this.fd = fdOps(protocol.limits.maxTransferBytes)
    this.mode = env.engine
    const options: EngineOptions = {
      mode: this.mode,
      sqDepth: config.sqDepth,
      cqDepth: cqEntriesFor(config),
      queueCapacity: config.queueDepth,
      fixedFileSlots: Math.min(FIXED_FILE_SLOTS, protocol.limits.maxFixedFileSlots),
      fixedBufferSlots: fixedBufferSlots(config, protocol.limits.maxFixedBufferSlots),
      sqpoll: config.sqpoll,
      testSetupErrno: env.testSetupErrno,
      testFailAfter: env.testRingFailAfter,
    }
    // ioWorkers applies to thread mode only: several rings driven by the one JavaScript
    // thread would only split its batches, so an inline backend has exactly one ring.
    const rings = this.mode === 'inline' ? 1 : config.ioWorkers
    try {
      for (let i = 0; i < rings; i++) {
        const ring: Ring = { engine: undefined as unknown as EngineHandle, failed: false, batch: [], tableOps: false }
        ring.engine = addon.createEngine(options, (results) => this.complete(ring, results))
        this.rings.push(ring)
      }
    } catch (err) {
      for (const ring of this.rings) addon.destroy(ring.engine)
      throw err
    }
    const requested = {
      sqEntries: options.sqDepth,
      cqEntries: options.cqDepth,
      queueCapacity: options.queueCapacity,
      fixedFileSlots: options.fixedFileSlots,
      fixedBufferSlots: options.fixedBufferSlots ?? 0,
      sqpoll: options.sqpoll ?? false,
    }
    this.setup = { engine: this.mode, engineSource: env.engineSource, requested, ...this.reports() }
    this.helpers = sendfileHelpers(addon)
    this.splice = this.wire.optional.sendFile !== null && this.wire.optional.cancel !== null && this.ringsSplice()
    this.sendPath = this.splice ? 'splice' : this.helpers !== null ? 'sendfile' : null
  }

  /** Whether every ring reports spliceOp (SPLICE, POLL_ADD and ASYNC_CANCEL supported). */
  private ringsSplice(): boolean {
    const info = this.addon.engineInfo
    if (typeof info !== 'function') return false
    try {
      return this.rings.every((r) => info.call(this.addon, r.engine)?.spliceOp === true)
    } catch {
      return false
    }
  }

  /**
   * sendTo's step (docs/design/zero-copy.md §5.2): one sendFile op on the file's ring,
   * submitted now — not at the microtask flush — because the binding dups the socket's fd
   * inside submit, and `socketFd()` reads it in this same synchronous run. The result may
   * be short of `length` (end of file, a cancel, or a ring that failed after some bytes
   * went out): the caller continues from there with another step. A ring that failed
   * before any byte went out runs the step through sendfile(2) (`ring_failed`); rings
   * that cannot splice use sendfile(2) throughout (`no_splice`).
   */
  async sendFile(file: BackendFile, socketFd: () => number | null, position: number, length: number, control: SendControl): Promise<SendStep> {
    // Everything up to the first await runs in the caller's synchronous run: the
    // descriptor is read and dup'd (by the submit) before Node can close or reuse it.
    const f = file as NativeFile
    const ring = this.rings[f.ring]
    if (!this.splice || ring.failed) return this.sendfileStep(f, socketFd, position, length, control, this.splice ? 'ring_failed' : 'no_splice')
    const fd = descriptorNow(socketFd)
    let cancelled = false
    const r = await this.spliceOnce(ring, f, fd, position, length, control, () => (cancelled = true))
    if (r === this.wire.ringFailed) {
      ring.failed = true
      if (cancelled) return { bytes: 0, path: 'splice', fallback: null }
      // Nothing of it was sent (the engine returns the bytes sent otherwise): all of it again, on sendfile.
      return this.sendfileStep(f, socketFd, position, length, control, 'ring_failed')
    }
    if (r < 0) {
      if (r === -ECANCELED && cancelled) return { bytes: 0, path: 'splice', fallback: null }
      throw systemError(-r, 'splice', f.path, (e) => this.addon.strerror(e))
    }
    return { bytes: r, path: 'splice', fallback: null }
  }

  /** A step through sendfile(2): the descriptor is read (and dup'd) in this synchronous run. */
  private async sendfileStep(f: NativeFile, socketFd: () => number | null, position: number, length: number, control: SendControl, fallback: SendStep['fallback']): Promise<SendStep> {
    if (this.helpers === null) throw new Error('the io_uring backend has no sendTo path (its rings cannot splice and the addon has no sendfile helpers)')
    const bytes = await sendfileRange(this.helpers, f, descriptorNow(socketFd), position, length, control, this.sendCounters)
    return { bytes, path: 'sendfile', fallback }
  }

  /** One sendFile op, submitted now; resolves its raw result. control.cancel submits a cancel for it. */
  private spliceOnce(ring: Ring, f: NativeFile, sockFd: number, position: number, length: number, control: SendControl, onCancel: () => void): Promise<number> {
    const { stride, at, optional } = this.wire
    return new Promise<number>((resolve, reject) => {
      const id = this.freeIds.pop() ?? this.ops.length
      const op: Op = {
        raw: true, link: false, kind: optional.sendFile!, fd: f.fd, offset: position, len: length, arg: sockFd, extra: undefined,
        path: f.path, resolve: (r) => {
          control.cancel = null
          resolve(r)
        }, reject, group: null, index: 0,
      }
      this.ops[id] = op
      const desc = new Float64Array(stride)
      desc[at.id] = id
      desc[at.kind] = optional.sendFile!
      desc[at.fd] = f.fd
      desc[at.offset] = position
      desc[at.len] = length
      desc[at.arg] = sockFd
      desc[at.flags] = 0
      control.cancel = () => {
        control.cancel = null
        onCancel()
        if (this.ops[id] !== op) return
        this.submitCancel(ring, id, op)
      }
      let done: Float64Array | undefined
      try {
        done = this.addon.submit(ring.engine, desc, [undefined])
      } catch (err) {
        control.cancel = null
        this.release(id)
        reject(err)
        return
      }
      if (done !== undefined) this.complete(ring, done)
    })
  }

  /**
   * A cancel of the sendFile `target`, submitted now; its result (0 or -ENOENT) is not
   * needed. A refused submit (EAGAIN: the thread engine's queue at capacity) is tried
   * again shortly while the target is in flight: a lost cancel would leave a transfer to
   * a paused reader, and io.close() behind it, waiting forever.
   */
  private submitCancel(ring: Ring, target: number, op: Op): void {
    const { stride, at, optional } = this.wire
    const kind = optional.cancel!
    const id = this.freeIds.pop() ?? this.ops.length
    this.ops[id] = { raw: true, link: false, kind, fd: 0, offset: target, len: 0, arg: 0, extra: undefined, path: '', resolve: NOOP, reject: NOOP, group: null, index: 0 }
    const desc = new Float64Array(stride)
    desc[at.id] = id
    desc[at.kind] = kind
    desc[at.offset] = target
    let done: Float64Array | undefined
    try {
      done = this.addon.submit(ring.engine, desc, [undefined])
    } catch (err) {
      this.release(id)
      debug('cancelling sendFile %d failed (%s): trying again', target, (err as Error).message)
      setTimeout(() => {
        if (this.ops[target] === op && this.fixedOpsAtShutdown === null) this.submitCancel(ring, target, op)
      }, 5)
      return
    }
    if (done !== undefined) this.complete(ring, done)
  }

  writableWaits(): number {
    return this.sendCounters.writableWaits + this.enginePolls()
  }

  private enginePolls(): number {
    if (this.pollsAtShutdown !== null) return this.pollsAtShutdown
    const stats = this.addon.sendStats
    if (typeof stats !== 'function') return 0
    let n = 0
    for (const ring of this.rings) n += stats.call(this.addon, ring.engine)?.polls ?? 0
    return n
  }

  /** What each ring was set up with, from the addon's engineInfo(); or why that is not known. */
  private reports(): Pick<RingSetup, 'rings' | 'unreported'> {
    const info = this.addon.engineInfo
    if (typeof info !== 'function') return { rings: null, unreported: 'the native addon does not report its rings (it has no engineInfo())' }
    try {
      const infos = this.rings.map((r) => info.call(this.addon, r.engine))
      if (infos.some((i) => i === null)) return { rings: null, unreported: 'engineInfo() reported no ring (an engine closed already)' }
      return { rings: infos.map((i) => this.report(i!)) }
    } catch (err) {
      return { rings: null, unreported: `engineInfo() failed: ${(err as Error).message}` }
    }
  }

  ringSetup(): RingSetup {
    return this.setup
  }

  private report(info: EngineInfo): RingReport {
    const refused = (errno: number | null, hints: Record<number, string>): string | null => {
      if (errno === null || errno === 0) return null
      const e = Math.abs(errno)
      const hint = hints[e]
      return `${errnoName(e)}: ${this.addon.strerror(e)}${hint === undefined ? '' : ` (${hint})`}`
    }
    return {
      sqEntries: info.sqEntries,
      cqEntries: info.cqEntries,
      setupFlags: [...info.setupFlags],
      features: [...info.features],
      fixedFiles: { slots: info.fixedFileSlots, refused: refused(info.fixedFilesErrno, FILE_TABLE_REFUSALS) },
      fixedBuffers: { slots: info.fixedBufferSlots, refused: refused(info.fixedBuffersErrno, BUFFER_REFUSALS) },
      ftruncateOp: info.ftruncateOp,
    }
  }

  async open(path: string, kind: OpenKind, mode: number, direct: boolean): Promise<BackendFile> {
    const ring = this.nextRing
    this.nextRing = (this.nextRing + 1) % this.rings.length
    // fd is unused by open; 0 keeps the descriptor within the binding's checked range.
    const fd = await this.submit(ring, this.wire.kind.open, 0, path, 0, mode, openFlags(kind, direct), path)
    return new NativeFile(path, fd, ring)
  }

  /**
   * Registers `buf` with every ring (the pool's buffers may be used on files of any
   * ring); resolves the slots, or rejects with the io_uring_register error (ENOMEM:
   * RLIMIT_MEMLOCK) after undoing the registrations that succeeded.
   */
  async registerBuffer(buf: Buffer): Promise<BufferRegistration> {
    if (this.fixedOpsAtShutdown !== null) throw new Error('the Io is closed: nothing to register with')
    const results: Slots = await Promise.all(
      this.rings.map((_, i) => this.submit(i, this.wire.kind.registerBuffer, 0, buf, 0, buf.byteLength, 0, '', true)),
    )
    const failed = results.find((r) => r < 0)
    if (failed === undefined) return results as unknown as BufferRegistration
    results.forEach((slot, i) => slot >= 0 && void this.unregisterOn(i, slot))
    if (failed === this.wire.ringFailed) throw new Error('the ring failed')
    const err = systemError(-failed, 'io_uring_register', undefined, (e) => this.addon.strerror(e))
    const why = BUFFER_REFUSALS[-failed]
    if (why !== undefined) err.message += ` (${why})`
    throw err
  }

  /**
   * Empties the slots `registerBuffer` returned; the buffer is then a plain one. Queued
   * now, so a registration asked for after this call comes after it on every ring;
   * resolves once every ring has done it (never rejects).
   */
  async unregisterBuffer(registration: BufferRegistration): Promise<void> {
    // After shutdown the rings, and their tables, are gone already.
    if (this.fixedOpsAtShutdown !== null) return
    await Promise.all((registration as unknown as Slots).map((slot, i) => this.unregisterOn(i, slot)))
  }

  /** Nobody but the pool waits for an unregistration, so its failure is only logged. */
  private unregisterOn(ring: number, slot: number): Promise<void> {
    return this.submit(ring, this.wire.kind.unregisterBuffer, 0, undefined, 0, 0, slot, '', true).then(
      (r) => void (r < 0 && debug('unregistering buffer slot %d of ring %d failed: %d', slot, ring, r)),
      (err: unknown) => debug('unregistering buffer slot %d of ring %d failed: %s', slot, ring, (err as Error).message),
    )
  }

  registeredBufferHits(): number {
    if (this.fixedOpsAtShutdown !== null) return this.fixedOpsAtShutdown
    const fixedOps = this.addon.fixedOps
    if (fixedOps === undefined) return 0
    let n = 0
    for (const ring of this.rings) n += fixedOps.call(this.addon, ring.engine)
    return n
  }

  read(file: BackendFile, buf: Uint8Array, offset: number): Promise<number> {
    return this.on(file, this.wire.kind.read, offset, buf.byteLength, 0, buf)
  }

  write(file: BackendFile, buf: Uint8Array, offset: number): Promise<unknown> {
    return this.on(file, this.wire.kind.write, offset, buf.byteLength, 0, buf)
  }

  async sync(file: BackendFile, dataOnly: boolean): Promise<void> {
    await this.on(file, dataOnly ? this.wire.kind.fdatasync : this.wire.kind.fsync, 0, 0, 0)
  }

  async allocate(file: BackendFile, offset: number, len: number): Promise<void> {
    await this.on(file, this.wire.kind.fallocate, offset, len, 0 /* mode 0: allocate and extend */)
  }

  async truncate(file: BackendFile, len: number): Promise<void> {
    await this.on(file, this.wire.kind.ftruncate, 0, len, 0)
  }

  size(file: BackendFile): Promise<number> {
    return this.on(file, this.wire.kind.size, 0, 0, 0)
  }

  async close(file: BackendFile): Promise<void> {
    await this.on(file, this.wire.kind.close, 0, 0, 0)
  }

  /**
   * One native submit with real IOSQE_IO_LINK chains when every file of the batch lives on
   * one ring (always in inline mode); chains across rings are run by runChains in
   * JavaScript. A chain member the ring could not run (RESULT_RING_FAILED) and the rest of
   * its chain run on the node:fs path, in order.
   */
  async batch(ops: BatchOp[]): Promise<BatchResult[]> {
    if (ops.length === 0) return []
    const ringIndex = (ops[0].file as NativeFile).ring
    const ring = this.rings[ringIndex]
    if (ring.failed || ops.some((op) => (op.file as NativeFile).ring !== ringIndex)) {
      return runChains(ops, (op) => runOnBackend(this, op))
    }
    // One promise for the whole batch (a promise per operation cost ~10 % of W4).
    const { kind: K, ringFailed } = this.wire
    const raw = await new Promise<number[]>((resolve, reject) => {
      const group = new Group(ops.length, resolve, reject)
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]
        const f = op.file as NativeFile
        const kind = op.kind === 'read' ? K.read : op.kind === 'write' ? K.write : K.fdatasync
        const len = op.buf === undefined ? 0 : op.buf.byteLength
        this.enqueue(ringIndex, {
          raw: true, link: op.link && i < ops.length - 1, kind, fd: f.fd, offset: op.offset, len, arg: 0,
          extra: op.buf, path: f.path, resolve: NOOP, reject: NOOP, group, index: i,
        })
      }
    })
    const results: BatchResult[] = new Array(ops.length)
    let i = 0
    while (i < ops.length) {
      // One chain: ops[i..end].
      let end = i
      while (end < ops.length - 1 && ops[end].link) end++
      let k = i
      for (; k <= end && raw[k] !== ringFailed; k++) {
        const r = raw[k]
        const op = ops[k]
        results[k] = r >= 0
          ? { ok: true, bytes: op.kind === 'syncData' ? 0 : r }
          : { ok: false, error: systemError(-r, op.kind === 'syncData' ? 'fdatasync' : op.kind, op.file.path, (e) => this.addon.strerror(e)) }
      }
      if (k <= end) {
        // The ring failed under this chain: the rest of it (never run) goes to node:fs.
        ring.failed = true
        const rest = ops.slice(k, end + 1)
        this.degradedOps += rest.length
        const done = await runChains(rest, (op) => this.runFd(op))
        done.forEach((r, j) => (results[k + j] = r))
      }
      i = end + 1
    }
    return results
  }

  private runFd(op: BatchOp): Promise<number> {
    const { fd, path } = op.file
    const run = async (): Promise<number> => {
      switch (op.kind) {
        case 'read': return this.fd.read(fd, op.buf!, op.offset)
        case 'write': return this.fd.write(fd, op.buf!, op.offset, path).then(() => op.buf!.byteLength)
        case 'syncData': return this.fd.sync(fd, true).then(() => 0)
      }
    }
    return run().catch((err: unknown) => Promise.reject(withPath(err, path)))
  }

  async shutdown(): Promise<void> {
    // Every read, write, sync… has settled (the Io drains first), so destroy() joins idle
    // threads. Buffer-table updates are not drained: destroy() drops completions not yet
    // delivered (thread mode), so whatever is still waiting is settled here, as not done
    // (-ESHUTDOWN) — never a promise that does not settle.
    const hits = this.registeredBufferHits()
    const polls = this.enginePolls()
    for (const ring of this.rings) this.addon.destroy(ring.engine)
    this.pollsAtShutdown = polls
    this.fixedOpsAtShutdown = hits
    for (const ring of this.rings) ring.batch = []
    for (let id = 0; id < this.ops.length; id++) {
      const op = this.ops[id]
      if (op === undefined) continue
      this.release(id)
      if (op.group !== null) op.group.settle(op.index, -ESHUTDOWN)
      else if (op.raw) op.resolve(-ESHUTDOWN)
      else op.reject(systemError(ESHUTDOWN, SYSCALL[this.wire.keyOf(op.kind)], op.path, (e) => this.addon.strerror(e)))
    }
  }

  private on(file: BackendFile, kind: number, offset: number, len: number, arg: number, buf?: Uint8Array): Promise<number> {
    const f = file as NativeFile
    return this.submit(f.ring, kind, f.fd, buf, offset, len, arg, f.path)
  }

  private submit(ringIndex: number, kind: number, fd: number, extra: Uint8Array | string | undefined, offset: number, len: number, arg: number, path: string, raw = false, link = false): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.enqueue(ringIndex, { raw, link, kind, fd, offset, len, arg, extra, path, resolve, reject, group: null, index: 0 })
    })
  }

  /** Queues `op` for this tick's flush of its ring (or degrades it when the ring failed). */
  private enqueue(ringIndex: number, op: Op): void {
    const ring = this.rings[ringIndex]
    if (ring.failed && !op.raw) {
      this.degrade(op)
      return
    }
    const id = this.freeIds.pop() ?? this.ops.length
    this.ops[id] = op
    ring.batch.push(id)
    if (this.wire.isTableUpdate(op.kind)) ring.tableOps = true
    if (!this.flushScheduled) {
      this.flushScheduled = true
      if (this.flushesThisTurn < MAX_FLUSHES_PER_TURN) queueMicrotask(() => this.flush())
      else setImmediate(() => this.flush())
    }
  }

  /** Sends each ring its batch of this tick: one native call per ring. */
  private flush(): void {
    this.flushScheduled = false
    this.flushesThisTurn++
    if (!this.turnWatch) {
      // Runs when the event loop gets its turn back: the count starts again.
      this.turnWatch = true
      setImmediate(() => {
        this.turnWatch = false
        this.flushesThisTurn = 0
      })
    }
    for (const ring of this.rings) {
      let batch = ring.batch
      if (batch.length === 0) continue
      ring.batch = []
      if (ring.tableOps) {
        // Buffer-table updates go first and alone: the engine applies them in order
        // before the reads and writes after them, and if the ring refuses the call
        // (EAGAIN at capacity in thread mode) only they fail — the buffer stays plain.
        ring.tableOps = false
        // (Both parts are taken before the first send: its ids may complete inside it.)
        const table = batch.filter((id) => this.wire.isTableUpdate(this.ops[id]!.kind))
        batch = batch.filter((id) => !this.wire.isTableUpdate(this.ops[id]!.kind))
        this.send(ring, table)
      }
      this.send(ring, batch)
    }
  }

  /** One native submit of the operations `batch` names (ids into `ops`) on `ring`. */
  private send(ring: Ring, batch: number[]): void {
    if (batch.length === 0) return
    const { stride, at, link } = this.wire
    const desc = new Float64Array(batch.length * stride)
    const extras: Array<Uint8Array | string | undefined> = new Array(batch.length)
    for (let i = 0; i < batch.length; i++) {
      const id = batch[i]
      const op = this.ops[id]!
      const base = i * stride
      desc[base + at.id] = id
      desc[base + at.kind] = op.kind
      desc[base + at.fd] = op.fd
      desc[base + at.offset] = op.offset
      desc[base + at.len] = op.len
      desc[base + at.arg] = op.arg
      desc[base + at.flags] = op.link ? link : 0
      extras[i] = op.extra
    }
    let done: Float64Array | undefined
    try {
      done = this.addon.submit(ring.engine, desc, extras)
    } catch (err) {
      // Nothing of this batch was submitted; settle every operation of it.
      for (const id of batch) {
        const op = this.ops[id]!
        this.release(id)
        if (op.group !== null) op.group.fail(err)
        else op.reject(err)
      }
      return
    }
    // Inline mode: what completed inside the submit, handled as onComplete's are.
    if (done !== undefined) this.complete(ring, done)
  }

  /** Called by the ring with [id, result] pairs; runs on the JavaScript thread. */
  private complete(ring: Ring, results: Float64Array): void {
    const ringFailed = this.wire.ringFailed
    for (let i = 0; i < results.length; i += 2) {
      const id = results[i]
      const result = results[i + 1]
      const op = this.ops[id]
      if (op === undefined) continue // cannot happen: every id completes once
      this.release(id)
      if (op.raw) {
        if (result === ringFailed) ring.failed = true
        if (op.group !== null) op.group.settle(op.index, result)
        else op.resolve(result)
      } else if (result === ringFailed) {
        ring.failed = true
        this.degrade(op)
      } else if (result < 0) {
        op.reject(systemError(-result, SYSCALL[this.wire.keyOf(op.kind)], op.path, (e) => this.addon.strerror(e)))
      } else {
        op.resolve(result)
      }
    }
  }

  private release(id: number): void {
    this.ops[id] = undefined
    this.freeIds.push(id)
  }

  /** Runs an operation on the node:fs path because its ring failed; counted. */
  private degrade(op: Op): void {
    this.degradedOps++
    const fd = this.fd
    const run = async (): Promise<number> => {
      switch (this.wire.keyOf(op.kind)) {
        case 'read': return fd.read(op.fd, op.extra as Uint8Array, op.offset)
        case 'write': return fd.write(op.fd, op.extra as Uint8Array, op.offset, op.path).then(() => op.len)
        case 'fsync': return fd.sync(op.fd, false).then(() => 0)
        case 'fdatasync': return fd.sync(op.fd, true).then(() => 0)
        case 'fallocate': return fd.allocate(op.fd, op.offset, op.len, op.path).then(() => 0)
        case 'ftruncate': return fd.truncate(op.fd, op.len).then(() => 0)
        case 'size': return fd.size(op.fd)
        case 'open': return fd.open(op.path, op.arg, op.len)
        case 'close': return fd.close(op.fd).then(() => 0)
        case 'nop': return 0
        case 'registerBuffer':
        case 'unregisterBuffer':
          return 0 // never degraded: buffer-table updates are raw
      }
    }
    run().then(op.resolve, (err: unknown) => op.reject(withPath(err, op.path)))
  }
}
