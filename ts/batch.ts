// io.batch(): many operations across files, one native submission, one promise; results
// in order. `{ link: true }` chains an operation to the next (IOSQE_IO_LINK): a failed
// link cancels the rest of its chain, which report ECANCELED.
import type { BatchOp, BatchResult } from './backends/backend'
import { invalidArgType, outOfRange } from './errors'
import { File } from './file'
import type { AsyncFile, IoBatch } from './types'
import { checkBuffer, checkOffset } from './validate'

/** What a batch needs from its Io. */
export interface BatchOwner {
  checkOpen(): void
  runBatch(ops: BatchOp[], files: File[]): Promise<BatchResult[]>
  readonly queueDepth: number
}

function checkLinkOption(opts: unknown): boolean {
  if (opts === undefined) return false
  if (opts === null || typeof opts !== 'object') throw invalidArgType('options', 'of type object', opts)
  const link = (opts as { link?: unknown }).link
  if (link === undefined) return false
  if (typeof link !== 'boolean') throw invalidArgType('options.link', 'of type boolean', link)
  return link
}

function checkFile(f: unknown): File {
  if (!(f instanceof File)) throw invalidArgType('file', 'an AsyncFile opened by this library', f)
  return f
}

export class Batch implements IoBatch {
  private readonly ops: BatchOp[] = []
  private readonly files: File[] = []
  private submitted = false

  constructor(private readonly owner: BatchOwner) {}

  readAt(f: AsyncFile, buf: Buffer, offset: number, opts?: { link?: boolean }): this {
    const file = checkFile(f)
    checkBuffer('buffer', buf)
    checkOffset('offset', offset)
    file.checkDirect(buf, offset)
    return this.add(file, { kind: 'read', file: file.handle, buf, offset, link: checkLinkOption(opts) })
  }

  writeAt(f: AsyncFile, buf: Buffer, offset: number, opts?: { link?: boolean }): this {
    const file = checkFile(f)
    checkBuffer('buffer', buf)
    checkOffset('offset', offset)
    checkOffset('offset + buffer.length', offset + buf.byteLength)
    file.checkDirect(buf, offset)
    return this.add(file, { kind: 'write', file: file.handle, buf, offset, link: checkLinkOption(opts) })
  }

  syncData(f: AsyncFile, opts?: { link?: boolean }): this {
    const file = checkFile(f)
    return this.add(file, { kind: 'syncData', file: file.handle, offset: 0, link: checkLinkOption(opts) })
  }

  get length(): number {
    return this.ops.length
  }

  /** Submits every operation at once; each result says ok with bytes, or the error. */
  submit(): Promise<Array<BatchResult>> {
    try {
      if (this.submitted) throw Object.assign(new Error('this batch was submitted already; create a new one with io.batch()'), { code: 'ERR_IO_BATCH_SUBMITTED' })
      this.owner.checkOpen()
      if (this.ops.length > this.owner.queueDepth) {
        throw outOfRange('batch length', `at most queueDepth (${this.owner.queueDepth}) operations`, this.ops.length)
      }
    } catch (err) {
      return Promise.reject(err)
    }
    this.submitted = true
    if (this.ops.length === 0) return Promise.resolve([])
    // A trailing link has nothing to chain to.
    this.ops[this.ops.length - 1].link = false
    return this.owner.runBatch(this.ops, this.files)
  }

  private add(file: File, op: BatchOp): this {
    if (this.submitted) throw Object.assign(new Error('this batch was submitted already; create a new one with io.batch()'), { code: 'ERR_IO_BATCH_SUBMITTED' })
    this.ops.push(op)
    this.files.push(file)
    return this
  }
}
