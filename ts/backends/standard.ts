// The standard backend: node:fs FileHandle underneath, the same semantics and errors as
// the io_uring backend. Used where io_uring is unavailable or disabled.
import fs from 'node:fs'
import { systemError, withPath } from '../errors'
import type { NativeAddon, ProtocolLimits } from '../native'
import { openFlags, type Backend, type BackendFile, type BatchOp, type BatchResult, type BufferRegistration, type OpenKind, type SendControl, type SendPath, type SendStep } from './backend'
import { runChains, runOnBackend } from './chains'
import { descriptorNow, sendfileHelpers, sendfileRange, type SendfileHelpers } from './sendfile'
import { allocateByZeroFill, readFull, type TransferOnce, writeFull } from './transfer'

class StandardFile implements BackendFile {
  constructor(
    readonly path: string,
    readonly handle: fs.promises.FileHandle,
  ) {}
  get fd(): number {
    return this.handle.fd
  }
}

const EISDIR = 21

export class StandardBackend implements Backend {
  readonly name = 'standard' as const
  readonly degradedOps = 0
  readonly registersBuffers = false
  readonly sendPath: SendPath | null
  /** The most one node:fs read or write is asked to move. */
  private readonly step: number
  /** The addon's sendfile helpers (sendTo's zero-copy path); null without them. */
  private readonly helpers: SendfileHelpers | null
  private readonly sendCounters = { writableWaits: 0 }

  /**
   * `limits`: the addon's protocol().limits, or FALLBACK_LIMITS without an addon; `addon`:
   * the loaded addon (null without one), for sendTo's sendfile(2).
   */
  constructor(limits: Pick<ProtocolLimits, 'maxTransferBytes'>, addon: NativeAddon | null = null) {
    this.step = limits.maxTransferBytes
    this.helpers = sendfileHelpers(addon)
    this.sendPath = this.helpers === null ? null : 'sendfile'
  }

  async sendFile(file: BackendFile, socketFd: () => number | null, position: number, length: number, control: SendControl): Promise<SendStep> {
    // Up to the first await this runs in the caller's synchronous run: the descriptor is
    // read and dup'd (by sendfileRange) before Node can close or reuse it.
    if (this.helpers === null) throw new Error('the standard backend has no sendfile helpers (sendPath is null)')
    const bytes = await sendfileRange(this.helpers, file, descriptorNow(socketFd), position, length, control, this.sendCounters)
    return { bytes, path: 'sendfile', fallback: null }
  }

  writableWaits(): number {
    return this.sendCounters.writableWaits
  }

  registerBuffer(): Promise<BufferRegistration> {
    return Promise.reject(new Error('the standard backend has no registered buffers (node:fs reads and writes plain memory)'))
  }

  async unregisterBuffer(): Promise<void> {}

  registeredBufferHits(): number {
    return 0
  }

  ringSetup(): null {
    return null
  }

  async open(path: string, kind: OpenKind, mode: number, direct: boolean): Promise<BackendFile> {
    const handle = await fs.promises.open(path, openFlags(kind, direct), mode)
    // open(2) lets O_RDONLY open a directory; the contract says EISDIR for every open*.
    let isDir: boolean
    try {
      isDir = (await handle.stat()).isDirectory()
    } catch (err) {
      await handle.close().catch(() => {})
      throw withPath(err, path)
    }
    if (isDir) {
      await handle.close()
      throw systemError(EISDIR, 'open', path)
    }
    return new StandardFile(path, handle)
  }

  read(file: BackendFile, buf: Uint8Array, offset: number): Promise<number> {
    const { handle } = file as StandardFile
    const len = buf.byteLength
    if (len === 0 || len > this.step) return this.readRest(file, buf, offset, 0)
    // The common read fits one call: FileHandle.read's promise and one continuation,
    // where the general path chains three async layers per read (the standard backend's
    // cost over plain node:fs on W3, BENCHMARKS.md). A short read that is not end-of-file
    // continues in readFull, from where this one stopped.
    return handle.read(buf, 0, len, offset).then(
      ({ bytesRead }) => (bytesRead === len || bytesRead === 0 ? bytesRead : this.readRest(file, buf, offset, bytesRead)),
      (err: unknown) => {
        throw withPath(err, file.path)
      },
    )
  }

  /** The readFull loop over `file` from `from` bytes already in `buf` (built only off the one-call path). */
  private readRest(file: BackendFile, buf: Uint8Array, offset: number, from: number): Promise<number> {
    const { handle } = file as StandardFile
    const readOnce: TransferOnce = (b, o, l, p) => handle.read(b, o, l, p).then((r) => r.bytesRead)
    return this.guard(file, () => readFull(readOnce, buf, offset, this.step, from))
  }

  write(file: BackendFile, buf: Uint8Array, offset: number): Promise<void> {
    const { handle } = file as StandardFile
    return this.guard(file, () => writeFull((b, o, l, p) => handle.write(b, o, l, p).then((r) => r.bytesWritten), buf, offset, file.path, this.step))
  }

  sync(file: BackendFile, dataOnly: boolean): Promise<void> {
    const { handle } = file as StandardFile
    return this.guard(file, () => (dataOnly ? handle.datasync() : handle.sync()))
  }

  allocate(file: BackendFile, offset: number, len: number): Promise<void> {
    const { handle } = file as StandardFile
    return this.guard(file, () =>
      allocateByZeroFill((b, o, l, p) => handle.write(b, o, l, p).then((r) => r.bytesWritten), () => this.size(file), offset, len, file.path),
    )
  }

  truncate(file: BackendFile, len: number): Promise<void> {
    return this.guard(file, () => (file as StandardFile).handle.truncate(len))
  }

  size(file: BackendFile): Promise<number> {
    return this.guard(file, async () => (await (file as StandardFile).handle.stat()).size)
  }

  close(file: BackendFile): Promise<void> {
    return this.guard(file, () => (file as StandardFile).handle.close())
  }

  batch(ops: BatchOp[]): Promise<BatchResult[]> {
    return runChains(ops, (op) => runOnBackend(this, op))
  }

  async shutdown(): Promise<void> {}

  private async guard<T>(file: BackendFile, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (err) {
      throw withPath(err, file.path)
    }
  }
}
