// The one interface both backends implement (STYLE.md 5: the standard backend is the
// same interface, not a special case sprinkled through callers). Arguments arrive
// validated; errors leave shaped like node:fs's (ts/errors.ts), path included.
import fs from 'node:fs'
import type { RingSetup } from '../types'

export type OpenKind = 'read' | 'readWrite' | 'create' | 'append'

/** O_DIRECT on Linux x86_64 (fs.constants has it only on Linux). */
const O_DIRECT = fs.constants.O_DIRECT ?? 0o40000

/**
 * open(2) flags per kind, plus O_DIRECT when `direct`. `append` does not use O_APPEND:
 * positions are reserved in-process.
 */
export function openFlags(kind: OpenKind, direct = false): number {
  const { O_RDONLY, O_RDWR, O_CREAT, O_TRUNC } = fs.constants
  const d = direct ? O_DIRECT : 0
  switch (kind) {
    case 'read': return O_RDONLY | d
    case 'readWrite': return O_RDWR | d
    case 'create': return O_RDWR | O_CREAT | O_TRUNC | d
    case 'append': return O_RDWR | O_CREAT | d
  }
}

/** An open file as a backend knows it. */
export interface BackendFile {
  readonly path: string
  readonly fd: number
}

/** One operation of an `io.batch()`; `link` chains it to the next (IOSQE_IO_LINK). */
export interface BatchOp {
  kind: 'read' | 'write' | 'syncData'
  file: BackendFile
  /** The buffer of a read or write; absent for syncData. */
  buf?: Uint8Array
  offset: number
  link: boolean
}

export type BatchResult = { ok: true; bytes: number } | { ok: false; error: Error }

/** A registered buffer as its backend knows it (the io_uring backend: a slot per ring). Opaque to callers. */
export type BufferRegistration = { readonly __registration: unique symbol }

/** A zero-copy path: IORING_OP_SPLICE on the ring, or sendfile(2) through the addon. */
export type SendPath = 'splice' | 'sendfile'

/** Set by the backend while a sendFile step runs: stops it soon (it then resolves the bytes sent so far). */
export interface SendControl {
  cancel: (() => void) | null
}

/** What one sendFile step did: bytes that reached the socket, the path that carried them, and why not the backend's own path. */
export interface SendStep {
  bytes: number
  path: SendPath
  fallback: 'ring_failed' | 'no_splice' | null
}

export interface Backend {
  readonly name: 'io_uring' | 'standard'
  /** Opens `path`; with `direct`, O_DIRECT (EINVAL where the file system refuses it). */
  open(path: string, kind: OpenKind, mode: number, direct: boolean): Promise<BackendFile>
  /** Fills `buf` from `offset` unless end-of-file comes first; resolves the bytes read. */
  read(file: BackendFile, buf: Uint8Array, offset: number): Promise<number>
  /** Writes `buf` whole at `offset` or rejects (the resolved value means nothing). */
  write(file: BackendFile, buf: Uint8Array, offset: number): Promise<unknown>
  sync(file: BackendFile, dataOnly: boolean): Promise<void>
  allocate(file: BackendFile, offset: number, len: number): Promise<void>
  truncate(file: BackendFile, len: number): Promise<void>
  size(file: BackendFile): Promise<number>
  close(file: BackendFile): Promise<void>
  /**
   * Runs `ops` as one submission; results in order. A failed operation in a linked chain
   * cancels the rest of that chain: they report ECANCELED. Reads fill unless EOF (bytes =
   * bytes read); writes are whole or fail; syncData reports 0 bytes.
   */
  batch(ops: BatchOp[]): Promise<BatchResult[]>
  /** Operations run on the standard path because a ring failed (0 on the standard backend). */
  readonly degradedOps: number
  /**
   * Whether this backend registers buffers (io.pool asks it to for every buffer it makes;
   * the io_uring backend does, the standard backend has nothing to register with).
   */
  readonly registersBuffers: boolean
  /**
   * Registers `buf` for fixed-buffer I/O; resolves the handle unregisterBuffer takes, or
   * rejects with the reason (pool.stats() counts it; the buffer stays plain). Rejects
   * where registersBuffers is false.
   */
  registerBuffer(buf: Buffer): Promise<BufferRegistration>
  /**
   * Undoes registerBuffer; the buffer is then plain. Queued at the call, so a registration
   * asked for afterwards comes after it; resolves when done, never rejects (a failure is
   * only logged).
   */
  unregisterBuffer(registration: BufferRegistration): Promise<void>
  /** Reads and writes that used a registered buffer (0 on the standard backend). */
  registeredBufferHits(): number
  /** The rings this backend set up (io.kernel.ring); null on the standard backend. */
  ringSetup(): RingSetup | null
  /** Zero-copy path of this backend; null = none (no addon / not Linux): the caller copies. */
  readonly sendPath: SendPath | null
  /**
   * Sends [position, position + length) of `file` to a stream socket whose descriptor
   * `socketFd()` reads (null: the socket is gone → ERR_SOCKET_CLOSED). The backend calls it
   * and duplicates the fd in one synchronous run — Node may close the fd and reuse its
   * number at any time — before this returns, and again for a continuation it starts
   * itself. Resolves the bytes that reached the socket: fewer than `length` at end of
   * file, after control.cancel(), or when the ring stopped part-way (the caller continues
   * with another step; end of file then answers 0). Rejects with the socket's or file's
   * errno, node:fs-shaped. Only called when sendPath is not null.
   */
  sendFile(file: BackendFile, socketFd: () => number | null, position: number, length: number, control: SendControl): Promise<SendStep>
  /** Times a sendFile waited for the reader (standard: uv_poll waits; io_uring: the engines' POLL_ADDs). */
  writableWaits(): number
  /** Releases the backend's own resources; every operation has settled before this is called. */
  shutdown(): Promise<void>
}
