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
  /** Releases the backend's own resources; every operation has settled before this is called. */
  shutdown(): Promise<void>
}
