// io.pool: reusable I/O buffers in size classes (DESIGN.md §3, issue 3).
//
// Memory comes from the native addon when it is loaded: zeroed, page-aligned (so every
// pool buffer qualifies for O_DIRECT), one allocation per buffer, freed when the Buffer
// is collected. On the io_uring backend each new buffer is also registered with the
// ring(s) (IORING_REGISTER_BUFFERS_UPDATE), and the engine then sends reads and writes
// on it — or on any subarray of it — as READ_FIXED/WRITE_FIXED by itself. Registration
// that fails (RLIMIT_MEMLOCK for unprivileged users, a full table) leaves that buffer a
// plain one: counted, never an error. Without the addon the pool hands out ordinary
// zeroed Buffers (no alignment, hence no O_DIRECT).
//
// At most `bufferPoolSize` free buffers are kept per class; a buffer released beyond
// that is dropped (unregistered first, then left to the garbage collector).
//
// A dropped buffer's slot is emptied in the same tick when its registration has settled
// (so a buffer acquired right after the release registers behind the emptying, not in
// front of it); one whose registration is still on its way is emptied once it lands.
// A registration refused because the table is full (ENOBUFS) while such emptyings are
// on their way is not a failure yet: it is tried again once they are done — a bounded
// number of times, and only while slots are being freed (issue 15).
import { invalidArgType, outOfRange, poolDoubleRelease, poolForeignBuffer } from './errors'

/** Where pool memory comes from and how it is registered; one per backend. */
export interface PoolMemory {
  /** Whether `allocate` returns page-aligned memory. */
  readonly aligned: boolean
  /** Zeroed memory of exactly `size` bytes. */
  allocate(size: number): Buffer
  /**
   * Registers `buf` for fixed-buffer I/O; resolves a handle for `unregister`, or an
   * Error saying why it stays a plain buffer (`code` 'ENOBUFS': the table is full).
   * Absent: no registration (standard backend).
   */
  register?(buf: Buffer): Promise<unknown>
  /**
   * Empties the registration `handle` names, queued before anything asked for after
   * this call; resolves once it is done (or could not be: it never rejects).
   */
  unregister?(handle: unknown): Promise<void>
}

/**
 * Tries of one registration refused with ENOBUFS while slots were being emptied (each
 * after those emptyings are done). Each retry needs an emptying that was on its way when
 * the try failed, so this only bounds a table that keeps filling up from elsewhere.
 */
export const REGISTRATION_ATTEMPTS = 4

/** `io.pool.stats()`. */
export interface PoolStats {
  /** Pool memory is page-aligned native memory (O_DIRECT-ready). */
  aligned: boolean
  /** acquire() served from a kept buffer / by allocating a new one. */
  hits: number
  misses: number
  /** Bytes of pool buffers alive (in use or kept), by class size. */
  allocatedBytes: number
  /** Buffers acquired and not released, and their bytes. */
  inUse: number
  inUseBytes: number
  /** Free buffers kept for reuse. */
  kept: number
  /** Buffers dropped because their class already kept `bufferPoolSize`. */
  dropped: number
  /** Buffers registered with the ring (io_uring backend); registrations that failed. */
  registered: number
  registrationFailures: number
  /**
   * Registrations tried again because the table was full while dropped buffers' slots
   * were being emptied (each try counted; the outcome is in registered/failures).
   */
  registrationRetries: number
  /** Why the last registration failed (e.g. "ENOMEM: … RLIMIT_MEMLOCK"), or null. */
  lastRegistrationError: string | null
  classes: Array<{ size: number; inUse: number; kept: number; allocated: number }>
}

/**
 * `io.pool`: reusable buffers in `sizeClasses` (bytes), page-aligned with the native addon
 * and, on io_uring, registered with the ring (READ_FIXED/WRITE_FIXED).
 */
export interface IoBufferPool {
  /** A buffer of the smallest class ≥ `minSize` (its length is the class size). */
  acquire(minSize: number): Buffer
  /** Gives back a buffer `acquire` returned (the same object, not a subarray). */
  release(buf: Buffer): void
  /** Counters: hits, misses, bytes allocated, buffers in use and kept, registrations. */
  stats(): PoolStats
}

interface Entry {
  cls: SizeClass
  free: boolean
  /** Registration in progress or done: resolves the handle, or null when it failed. */
  registration: Promise<unknown> | null
  /** The handle once the registration has succeeded (undefined before, or without one). */
  handle: unknown
  /** Dropped by the pool (its slot, if any, is being or has been emptied). */
  dropped: boolean
}

interface SizeClass {
  size: number
  keep: Buffer[]
  inUse: number
  allocated: number
}

export class BufferPool implements IoBufferPool {
  private readonly classes: SizeClass[]
  /** Every buffer the pool gave out and has not dropped, by identity. */
  private readonly entries = new WeakMap<Buffer, Entry>()
  /** Buffers the pool dropped: a release of one is still a double release. */
  private readonly gone = new WeakSet<Buffer>()
  /** The memory of every pool buffer, to name a released subarray for what it is. */
  private readonly memories = new WeakSet<ArrayBufferLike>()
  private hits = 0
  private misses = 0
  private dropped = 0
  private registered = 0
  private registrationFailures = 0
  private registrationRetries = 0
  private lastRegistrationError: string | null = null
  /** Registrations not settled yet. */
  private readonly registering = new Set<Promise<unknown>>()
  /** Emptyings of dropped buffers' slots not done yet (awaiting their registration too). */
  private readonly emptying = new Set<Promise<void>>()
  /** Set when the Io closed: its rings, and their registrations, are gone. */
  private detached = false

  constructor(
    sizes: readonly number[],
    private readonly keepPerClass: number,
    private readonly memory: PoolMemory,
  ) {
    this.classes = sizes.map((size) => ({ size, keep: [], inUse: 0, allocated: 0 }))
  }

  acquire(minSize: number): Buffer {
    if (typeof minSize !== 'number') throw invalidArgType('minSize', 'of type number', minSize)
    const largest = this.classes[this.classes.length - 1].size
    if (!Number.isSafeInteger(minSize) || minSize < 0 || minSize > largest) {
      throw outOfRange('minSize', `an integer from 0 to the largest size class (${largest})`, minSize)
    }
    const cls = this.classes.find((c) => c.size >= minSize)!
    cls.inUse++
    const kept = cls.keep.pop()
    if (kept !== undefined) {
      this.hits++
      this.entries.get(kept)!.free = false
      return kept
    }
    this.misses++
    const buf = this.memory.allocate(cls.size)
    cls.allocated++
    const entry: Entry = { cls, free: false, registration: null, handle: undefined, dropped: false }
    this.entries.set(buf, entry)
    this.memories.add(buf.buffer)
    if (this.memory.register && !this.detached) entry.registration = this.track(this.registering, this.register(buf, entry))
    return buf
  }

  release(buf: Buffer): void {
    if (!(buf instanceof Uint8Array)) throw invalidArgType('buf', 'a Buffer from io.pool.acquire()', buf)
    const entry = this.entries.get(buf)
    if (entry === undefined) {
      if (this.gone.has(buf)) throw poolDoubleRelease(buf.byteLength)
      throw poolForeignBuffer(
        this.memories.has(buf.buffer)
          ? `a ${buf.byteLength}-byte view into a pool buffer; release the object acquire() returned`
          : `a ${buf.byteLength}-byte buffer allocated elsewhere`,
      )
    }
    if (entry.free) throw poolDoubleRelease(buf.byteLength)
    const cls = entry.cls
    cls.inUse--
    if (cls.keep.length < this.keepPerClass) {
      entry.free = true
      cls.keep.push(buf)
      return
    }
    this.drop(buf, entry)
  }

  stats(): PoolStats {
    let allocatedBytes = 0
    let inUse = 0
    let inUseBytes = 0
    let kept = 0
    for (const c of this.classes) {
      allocatedBytes += c.allocated * c.size
      inUse += c.inUse
      inUseBytes += c.inUse * c.size
      kept += c.keep.length
    }
    return {
      aligned: this.memory.aligned,
      hits: this.hits,
      misses: this.misses,
      allocatedBytes,
      inUse,
      inUseBytes,
      kept,
      dropped: this.dropped,
      registered: this.registered,
      registrationFailures: this.registrationFailures,
      registrationRetries: this.registrationRetries,
      lastRegistrationError: this.lastRegistrationError,
      classes: this.classes.map((c) => ({ size: c.size, inUse: c.inUse, kept: c.keep.length, allocated: c.allocated })),
    }
  }

  /**
   * Resolves once every registration and slot emptying asked for so far has settled and
   * is counted in stats() (not part of IoBufferPool: tests wait on it instead of a
   * guessed delay).
   */
  async settled(): Promise<void> {
    while (this.registering.size > 0 || this.emptying.size > 0) {
      await Promise.all([...this.registering, ...this.emptying])
    }
  }

  /**
   * The Io closed: its rings are gone, so no buffer is registered any more and none will
   * be. The pool itself keeps working (plain buffers).
   */
  detach(): void {
    this.detached = true
    this.registered = 0
  }

  private async register(buf: Buffer, entry: Entry): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      try {
        const handle = await this.memory.register!(buf)
        if (this.detached) return null
        this.registered++
        entry.handle = handle
        return handle
      } catch (err) {
        // The table is full, but slots are being emptied: try again once they are. Not
        // for a buffer dropped meanwhile (nobody will use it; and its own emptying waits
        // for this registration, so a dropped buffer's registration never waits on
        // anything — which keeps these waits from ever forming a cycle).
        const emptying = [...this.emptying]
        const full = (err as { code?: unknown }).code === 'ENOBUFS'
        if (full && emptying.length > 0 && attempt < REGISTRATION_ATTEMPTS && !entry.dropped && !this.detached) {
          this.registrationRetries++
          await Promise.all(emptying)
          if (!entry.dropped && !this.detached) continue
        }
        // The Io closed meanwhile: its rings went, nothing failed that counts.
        if (this.detached) return null
        this.registrationFailures++
        this.lastRegistrationError = (err as Error).message
        return null
      }
    }
  }

  private drop(buf: Buffer, entry: Entry): void {
    this.entries.delete(buf)
    this.gone.add(buf)
    entry.dropped = true
    entry.cls.allocated--
    this.dropped++
    const reg = entry.registration
    if (reg === null || this.detached) return
    if (entry.handle !== undefined) {
      // Registered: emptied now, ahead of any registration asked for after this release.
      this.empty(entry.handle)
      return
    }
    // Still on its way (or failed): emptied once it has landed.
    const later = reg.then((handle) => {
      if (handle !== null && !this.detached) return this.empty(handle)
    })
    this.track(this.emptying, later)
  }

  /** Empties a registered buffer's slot; counted out of `registered` at once. */
  private empty(handle: unknown): Promise<void> {
    this.registered--
    return this.track(this.emptying, this.memory.unregister!(handle))
  }

  /** Keeps `p` in `set` until it settles (it never rejects). */
  private track<T>(set: Set<Promise<T>>, p: Promise<T>): Promise<T> {
    set.add(p)
    void p.then(() => set.delete(p))
    return p
  }
}
