// Loads the Node-API addon (crates/binding) and types its JavaScript surface
// (docs/ARCHITECTURE.md §2). A missing addon is an ordinary outcome: the library then
// runs on the standard backend and says why.
import path from 'node:path'

export type ProbeResult =
  | { ok: true; opcodes: string[]; missing: string[]; features: string[]; setupFlags: string[] }
  | { ok: false; errno: number; /** Set when the addon itself explains (built without io_uring). */ reason?: string }

export interface EngineOptions {
  sqDepth: number
  cqDepth: number
  queueCapacity: number
  fixedFileSlots: number
  /** Registered-buffer table size (0 = none); pool buffers are registered into it. */
  fixedBufferSlots?: number
  /** IORING_SETUP_SQPOLL where the kernel allows it. */
  sqpoll?: boolean
  /** Test hook: ring setup fails with this errno (0 = off). */
  testSetupErrno: number
  /** Test hook: the ring fails after this many requests (0 = off). */
  testFailAfter: number
  /**
   * 'thread' (default): a ring thread per engine, completions through a threadsafe
   * function. 'inline': the JavaScript thread submits and reaps (no thread hop); submit()
   * returns what completed inside it, the rest arrives through onComplete from a poll
   * handle on the event loop. An addon that predates modes ignores this field.
   */
  mode?: EngineMode
}

export type EngineMode = 'inline' | 'thread'

/** Descriptor flags (the 7th number of each operation). */
export const DESC_FLAG_LINK = 1

/** An engine handle: one ring and its thread. Opaque to JavaScript. */
export type EngineHandle = object & { readonly __engine: unique symbol }

export interface NativeAddon {
  kernelRelease(): string
  probe(entries: number, testSetupErrno: number): ProbeResult
  createEngine(opts: EngineOptions, onComplete: (results: Float64Array) => void): EngineHandle
  /**
   * Submits `desc` (stride DESC_STRIDE). Inline engines return the [id, result] pairs that
   * completed inside the call (undefined when none); onComplete is never called from inside
   * submit. Thread engines return undefined.
   */
  submit(engine: EngineHandle, desc: Float64Array, extras: Array<Uint8Array | string | undefined>): Float64Array | undefined
  destroy(engine: EngineHandle): void
  strerror(errno: number): string
  /** Numbers per operation in a submit descriptor this build expects (DESC_STRIDE). */
  descStride(): number
  // Optional: an addon built before these existed lacks them (check before calling).
  /** CRC-32C (Castagnoli) of `data`, continuing from `previous` (0 when none); unsigned 32-bit. */
  crc32c?(data: Uint8Array, previous: number): number
  /**
   * flock(2): LOCK_EX (exclusive) or LOCK_SH, with LOCK_NB when nonBlocking. Returns 0 or a
   * negative errno (-11 EAGAIN/EWOULDBLOCK: held elsewhere). A blocking call blocks the
   * JavaScript thread; prefer nonBlocking and retry.
   */
  flock?(fd: number, exclusive: boolean, nonBlocking: boolean): number
  /** flock(fd, LOCK_UN): releases the lock of this open file description. 0 or a negative errno. */
  funlock?(fd: number): number
  /** posix_fadvise(fd, offset, len, POSIX_FADV_DONTNEED); len 0 = to end of file. 0 or a negative errno. */
  fadviseDontNeed?(fd: number, offset: number, len: number): number
  /** Reads and writes of this engine that used a registered buffer (READ_FIXED/WRITE_FIXED). */
  fixedOps?(engine: EngineHandle): number
  /** Zeroed, 4096-aligned native memory as a Buffer (throws where external buffers are forbidden). */
  allocAligned?(size: number): Buffer
  /** The address of the view's first byte (for O_DIRECT alignment checks). */
  bufferAddress?(buf: Uint8Array): number
  /** statx STATX_DIOALIGN of an fd: [memAlign, offsetAlign], null when not reported, or -errno. */
  dioAlignment?(fd: number): Float64Array | null | number
}

/** Operation kinds in a submission descriptor (stride DESC_STRIDE: id, kind, fd, offset, len, arg, flags). */
export const enum OpKind {
  Read = 1,
  Write = 2,
  Fsync = 3,
  Fdatasync = 4,
  Fallocate = 5,
  Ftruncate = 6,
  Size = 7,
  Open = 8,
  Close = 9,
  Nop = 10,
  /** Registers extras[i] (len bytes) in the ring's buffer table; result = the slot. */
  RegisterBuffer = 11,
  /** Empties buffer-table slot `arg`. */
  UnregisterBuffer = 12,
}
export const DESC_STRIDE = 7
/** A completion result meaning "not executed: the ring failed" — run it elsewhere. */
export const RESULT_RING_FAILED = -1_000_000

const TRIPLE = `${process.platform}-${process.arch}${process.platform === 'linux' ? '-gnu' : ''}`
const BINARY = `streamline-io.${TRIPLE}.node`

export type AddonLoad = { addon: NativeAddon; from: string } | { addon: null; reason: string }

const REQUIRED_EXPORTS = ['kernelRelease', 'probe', 'createEngine', 'submit', 'destroy', 'strerror', 'descStride'] as const

let loaded: AddonLoad | undefined

/**
 * The addon, from the repository build (`napi build --platform`) or the per-platform
 * package (`@streamline/io-<triple>`). STREAMLINE_IO_TEST_NO_ADDON=1 is a test hook
 * that behaves as if neither existed.
 */
export function loadAddon(): AddonLoad {
  if (loaded) return loaded
  if (process.env.STREAMLINE_IO_TEST_NO_ADDON === '1') {
    return (loaded = { addon: null, reason: 'the native addon is disabled by the test hook STREAMLINE_IO_TEST_NO_ADDON=1' })
  }
  const candidates = [path.join(__dirname, '..', '..', BINARY), `@streamline/io-${TRIPLE}`]
  const failures: string[] = []
  for (const candidate of candidates) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const addon = require(candidate) as NativeAddon
      // A stale build from another version would fail later in confusing ways.
      const missing = REQUIRED_EXPORTS.filter((name) => typeof (addon as unknown as Record<string, unknown>)[name] !== 'function')
      if (missing.length > 0) {
        failures.push(`${candidate} lacks ${missing.join(', ')} (a stale build? run 'npm run build:native')`)
        continue
      }
      if (addon.descStride() !== DESC_STRIDE) {
        failures.push(`${candidate} expects ${addon.descStride()} numbers per operation, not ${DESC_STRIDE} (a stale build? run 'npm run build:native')`)
        continue
      }
      return (loaded = { addon, from: candidate })
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      failures.push(e.code === 'MODULE_NOT_FOUND' ? `${candidate} not found` : `${candidate}: ${e.message.split('\n')[0]}`)
    }
  }
  return (loaded = {
    addon: null,
    reason: `no native addon for ${TRIPLE} (${failures.join('; ')}); build it with 'npm run build:native'`,
  })
}
