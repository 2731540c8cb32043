// A fault-injecting Io for the reliability tests (DESIGN.md §7): it wraps a real Io of
// either backend and forwards every operation to it, while keeping, per file, a model of
// what the disk is guaranteed to hold — the bytes and size as of the last successful
// fdatasync/fsync that covered them. `powerLoss()` then rewrites each file on disk to
// that durable state (unsynced writes dropped, prior bytes and size restored), optionally
// with a torn prefix of the last unsynced write cut at a 512-byte boundary. Failures can
// be injected: the next syncData or write rejects with a chosen errno (EIO, ENOSPC, …).
//
// The model is deliberately strict, like the kernel's contract:
// - A sync covers only the writes that had *completed* before the sync was issued. A
//   write still in flight when fdatasync starts is not covered, whatever order they
//   finish in.
// - Inside io.batch(), a syncData covers a write of the same batch only when the write
//   comes before it in the same linked chain (IOSQE_IO_LINK orders them); operations of
//   different chains run concurrently, so they do not cover each other.
// - A failed sync covers nothing (fsyncgate: the dirty pages may be gone).
// - Size changes (allocate, truncate, a create that truncates) are unsynced too.
// Files are tracked by inode, so a rename through node:fs (recycling) keeps the model and
// an unlinked file is left alone. A file created through the wrapper and never synced
// comes back empty.
//
// After powerLoss() the device is gone: every operation through the wrapper rejects with
// EIO, and so does every operation that was in flight (the process would never have seen
// it complete). That stops the code under test at its next I/O, before it can rename or
// unlink anything through node:fs on the strength of a write that never became durable;
// close() still closes the descriptors (and the code under test can release its locks).
// The test must count only acknowledgements received before powerLoss().

import type { Socket } from 'node:net'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { systemError } from '../../ts/errors'
import type { AppendResult, AsyncFile, BatchResult, Io, IoBatch, OpenOptions, ReadResult, WriteResult } from '../../ts/types'
import { prng } from './backends'

export type FaultCode = 'EIO' | 'ENOSPC' | 'EDQUOT' | 'EROFS'
/** 'sync' = syncData or syncAll (alone or in a batch); 'write' = writeAt, append or a batch write. */
export type FaultOp = 'sync' | 'syncData' | 'syncAll' | 'write' | 'allocate'

export interface FaultOptions {
  /** How many matching operations fail (default 1). */
  count?: number
  /** Only operations on files whose path matches (substring or RegExp). */
  path?: string | RegExp
  /** Skip this many matching operations first (default 0). */
  skip?: number
  /** For a write: write this many bytes of it for real first (a short write, then the error). */
  afterBytes?: number
}

export interface PowerLossOptions {
  /** Apply a prefix of the last unsynced write, cut at a 512-byte file boundary. */
  tearLast?: boolean
  /**
   * Unsynced operations (in completion order) that made it to disk before the lost one:
   * 0 (default) drops them all; 'random' picks a seeded random count. Whatever is kept is
   * a prefix of the completion order (the tear, if any, applies to the next one).
   */
  keepUnsynced?: number | 'random'
  /** Seed of the tear position and of 'random' (default 1). */
  seed?: number
}

export interface PowerLossReport {
  /** Files rewritten to their durable state. */
  files: string[]
  /** Unsynced operations dropped entirely. */
  dropped: number
  /** Unsynced operations kept whole (keepUnsynced). */
  kept: number
  /** The torn write, if any: where it was, how long, how much of it survived. */
  torn: { path: string; offset: number; length: number; keptBytes: number } | null
}

type PendingOp =
  | { kind: 'write'; seq: number; offset: number; data: Buffer }
  | { kind: 'size'; seq: number; size: number }
  | { kind: 'allocate'; seq: number; offset: number; len: number }

interface Tracked {
  dev: number
  ino: number
  /** Every path this inode was opened under (the last first when searching). */
  paths: string[]
  /** The durable image: its first `size` bytes are the file. */
  image: Buffer
  size: number
  /** Completed, not yet durable, in completion order. */
  pending: PendingOp[]
}

interface Fault {
  op: FaultOp
  code: FaultCode
  remaining: number
  skip: number
  path?: string | RegExp
  afterBytes: number
}

export interface FaultyIoStats {
  writes: number
  syncs: number
  batches: number
  emulatedBatches: number
  injected: number
  powerLosses: number
}

const SECTOR = 512

function errnoOf(code: string): number {
  const n = (os.constants.errno as Record<string, number>)[code]
  if (typeof n !== 'number') throw new Error(`unknown errno ${code}`)
  return n
}

/** An inode, told apart from a later file that reuses its number by its birth time. */
function keyOf(st: fs.Stats): string {
  return `${st.dev}:${st.ino}:${st.birthtimeMs}`
}

function grow(t: Tracked, size: number): void {
  if (size <= t.image.length) return
  const next = Buffer.alloc(Math.max(size, t.image.length * 2, 4096))
  t.image.copy(next, 0, 0, t.size)
  t.image = next
}

/** Applies one operation to an image (the durable model or a copy of it). */
function applyOp(t: Tracked, op: PendingOp, limitBytes = Infinity): void {
  switch (op.kind) {
    case 'write': {
      const n = Math.min(op.data.length, limitBytes)
      if (n <= 0) return
      const end = op.offset + n
      grow(t, end)
      // Bytes between the old end and a write past it read as zeros.
      if (op.offset > t.size) t.image.fill(0, t.size, op.offset)
      op.data.copy(t.image, op.offset, 0, n)
      if (end > t.size) t.size = end
      return
    }
    case 'size': {
      if (op.size > t.size) {
        grow(t, op.size)
        t.image.fill(0, t.size, op.size)
      }
      t.size = op.size
      return
    }
    case 'allocate': {
      const end = op.offset + op.len
      if (end > t.size) {
        grow(t, end)
        t.image.fill(0, t.size, end)
        t.size = end
      }
      return
    }
  }
}

function matches(f: Fault, op: FaultOp, filePath: string): boolean {
  const opOk =
    f.op === op ||
    (f.op === 'sync' && (op === 'syncData' || op === 'syncAll'))
  if (!opOk) return false
  if (f.path === undefined) return true
  return typeof f.path === 'string' ? filePath.includes(f.path) : f.path.test(filePath)
}

export class FaultyIo implements Io {
  private readonly byInode = new Map<string, Tracked>()
  private readonly faults: Fault[] = []
  private readonly inflight = new Set<Promise<unknown>>()
  private seq = 0
  private deadFlag = false
  readonly stats: FaultyIoStats = { writes: 0, syncs: 0, batches: 0, emulatedBatches: 0, injected: 0, powerLosses: 0 }
  /** Every injected failure, for test messages. */
  readonly injectedLog: string[] = []

  constructor(readonly inner: Io) {}

  get backend(): Io['backend'] {
    return this.inner.backend
  }
  get fallbackReason(): string | null {
    return this.inner.fallbackReason
  }
  get kernel(): Io['kernel'] {
    return this.inner.kernel
  }
  get config(): Io['config'] {
    return this.inner.config
  }
  get pool(): Io['pool'] {
    return this.inner.pool
  }
  get degradedOps(): number {
    return this.inner.degradedOps
  }
  metrics(): ReturnType<Io['metrics']> {
    return this.inner.metrics()
  }
  prometheus(): string {
    return this.inner.prometheus()
  }
  /** True once powerLoss() was called: nothing reaches the disk any more. */
  get dead(): boolean {
    return this.deadFlag
  }

  open(p: string, opts?: OpenOptions): Promise<AsyncFile> {
    return this.openAs('open', p, opts)
  }
  openRw(p: string, opts?: OpenOptions): Promise<AsyncFile> {
    return this.openAs('openRw', p, opts)
  }
  create(p: string, opts?: OpenOptions): Promise<AsyncFile> {
    return this.openAs('create', p, opts)
  }
  openAppend(p: string, opts?: OpenOptions): Promise<AsyncFile> {
    return this.openAs('openAppend', p, opts)
  }

  batch(): IoBatch {
    return new FaultyBatch(this)
  }

  close(): Promise<void> {
    return this.inner.close()
  }

  /** Makes the next matching operation(s) fail with `code` (node:fs-shaped, errno negative). */
  failNext(op: FaultOp, code: FaultCode, opts: FaultOptions = {}): void {
    this.faults.push({ op, code, remaining: opts.count ?? 1, skip: opts.skip ?? 0, path: opts.path, afterBytes: opts.afterBytes ?? 0 })
  }

  /** Forgets armed faults that have not fired. */
  clearFaults(): void {
    this.faults.length = 0
  }

  /** Armed faults still waiting to fire. */
  get armedFaults(): number {
    return this.faults.reduce((n, f) => n + f.remaining, 0)
  }

  /** Bytes written and not yet durable, over every file (or one path). */
  unsyncedOps(filePath?: string): number {
    let n = 0
    for (const t of this.byInode.values()) {
      if (filePath === undefined || t.paths.includes(filePath)) n += t.pending.length
    }
    return n
  }

  /**
   * Cuts the power: waits for the operations in flight (they would otherwise land after
   * the rewrite), then rewrites every tracked file that still exists to its durable state.
   */
  async powerLoss(opts: PowerLossOptions = {}): Promise<PowerLossReport> {
    this.deadFlag = true
    this.stats.powerLosses++
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight])
    const rand = prng(opts.seed ?? 1)
    // Every unsynced operation in completion order, with its file.
    const all: Array<{ t: Tracked; op: PendingOp }> = []
    for (const t of this.byInode.values()) for (const op of t.pending) all.push({ t, op })
    all.sort((a, b) => a.op.seq - b.op.seq)
    let keep = 0
    if (opts.keepUnsynced === 'random') keep = Math.floor(rand() * (all.length + 1))
    else if (typeof opts.keepUnsynced === 'number') keep = Math.min(all.length, Math.max(0, opts.keepUnsynced))
    // Work on copies: the report must not depend on what the model says afterwards.
    const images = new Map<Tracked, Tracked>()
    const imageOf = (t: Tracked): Tracked => {
      let c = images.get(t)
      if (!c) {
        c = { ...t, image: Buffer.from(t.image.subarray(0, Math.max(t.size, 1))), pending: [] }
        images.set(t, c)
      }
      return c
    }
    for (const t of this.byInode.values()) imageOf(t)
    for (let i = 0; i < keep; i++) applyOp(imageOf(all[i].t), all[i].op)
    let torn: PowerLossReport['torn'] = null
    if (opts.tearLast) {
      // The write to tear: the first lost one when some were kept, else the last one.
      const writes = all.slice(keep).filter((x) => x.op.kind === 'write')
      const victim = keep > 0 ? writes[0] : writes[writes.length - 1]
      if (victim && victim.op.kind === 'write') {
        const { offset, data } = victim.op
        const end = offset + data.length
        // Sector boundaries strictly inside the write; a write inside one sector is
        // atomic: all or nothing.
        const cuts: number[] = []
        for (let b = Math.ceil((offset + 1) / SECTOR) * SECTOR; b < end; b += SECTOR) cuts.push(b - offset)
        const keptBytes = cuts.length > 0 ? cuts[Math.floor(rand() * cuts.length)] : rand() < 0.5 ? 0 : data.length
        applyOp(imageOf(victim.t), victim.op, keptBytes)
        torn = { path: victim.t.paths[victim.t.paths.length - 1], offset, length: data.length, keptBytes }
      }
    }
    const files: string[] = []
    for (const [t, img] of images) {
      const where = this.locate(t)
      if (where === null) continue
      const fd = fs.openSync(where, 'r+')
      try {
        let done = 0
        while (done < img.size) done += fs.writeSync(fd, img.image, done, img.size - done, done)
        fs.ftruncateSync(fd, img.size)
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
      files.push(where)
    }
    for (const t of this.byInode.values()) t.pending = []
    return { files, dropped: all.length - keep - (torn !== null ? 1 : 0), kept: keep, torn }
  }

  // ----- internals used by FaultyFile and FaultyBatch -----

  /**
   * Counts an operation as in flight until it settles (powerLoss waits for it). One that
   * settles after the power went out reports EIO: nobody saw it complete.
   */
  track<T>(p: Promise<T>, syscall = 'write', filePath?: string): Promise<T> {
    this.inflight.add(p)
    const done = (): void => {
      this.inflight.delete(p)
    }
    p.then(done, done)
    return p.then(
      (v) => {
        if (this.deadFlag) throw this.powerOff(syscall, filePath)
        return v
      },
      (e: unknown) => {
        throw this.deadFlag ? this.powerOff(syscall, filePath) : e
      },
    )
  }

  /** The error of any operation once the power is off. */
  powerOff(syscall: string, filePath?: string): Error {
    return systemError(errnoOf('EIO'), syscall, filePath)
  }

  /** The armed fault for this operation, consumed, or null. */
  takeFault(op: FaultOp, filePath: string): Fault | null {
    for (let i = 0; i < this.faults.length; i++) {
      const f = this.faults[i]
      if (!matches(f, op, filePath)) continue
      if (f.skip > 0) {
        f.skip--
        continue
      }
      f.remaining--
      if (f.remaining <= 0) this.faults.splice(i, 1)
      this.stats.injected++
      this.injectedLog.push(`${op} ${f.code} ${filePath}`)
      return f
    }
    return null
  }

  /** True when some armed fault could match an operation of `op` on this file. */
  hasFaultFor(op: FaultOp, filePath: string): boolean {
    return this.faults.some((f) => matches(f, op, filePath))
  }

  injectedError(code: FaultCode, syscall: string, filePath: string): Error {
    return systemError(errnoOf(code), syscall, filePath)
  }

  nextSeq(): number {
    return ++this.seq
  }

  /** Records a completed write (data copied now: the caller owns the buffer again once it settles). */
  recordWrite(t: Tracked, offset: number, buf: Uint8Array): void {
    this.stats.writes++
    t.pending.push({ kind: 'write', seq: this.nextSeq(), offset, data: Buffer.from(buf) })
  }

  recordSize(t: Tracked, op: { kind: 'size'; size: number } | { kind: 'allocate'; offset: number; len: number }): void {
    t.pending.push({ ...op, seq: this.nextSeq() } as PendingOp)
  }

  /** Makes `ops` (a snapshot of pending operations) durable, in completion order. */
  makeDurable(t: Tracked, ops: PendingOp[]): void {
    if (ops.length === 0) return
    const set = new Set(ops)
    for (const op of [...ops].sort((a, b) => a.seq - b.seq)) applyOp(t, op)
    t.pending = t.pending.filter((op) => !set.has(op))
  }

  private async openAs(kind: 'open' | 'openRw' | 'create' | 'openAppend', p: string, opts?: OpenOptions): Promise<AsyncFile> {
    if (this.deadFlag) throw this.powerOff('open', p)
    // The durable state of an existing file is what it holds now (the tests create
    // files through the wrapper, or they were written before the wrapper saw them).
    let before: fs.Stats | null = null
    try {
      before = fs.statSync(p)
    } catch {
      before = null
    }
    let t: Tracked | undefined
    if (before !== null && before.isFile()) t = this.trackedFor(before, p, true)
    const file = await this.track(this.inner[kind](p, opts), 'open', p)
    const after = fs.statSync(p)
    if (t === undefined || t.ino !== after.ino || t.dev !== after.dev) {
      // New file: durably empty until a sync says otherwise (its name is kept). An entry
      // left by an unlinked file whose inode number was reused is replaced.
      this.byInode.delete(keyOf(after))
      t = this.trackedFor(after, p, false)
    }
    if (!t.paths.includes(p)) t.paths.push(p)
    if (kind === 'create' && before !== null && before.isFile() && before.size > 0) this.recordSize(t, { kind: 'size', size: 0 })
    return new FaultyFile(this, file, t)
  }

  private trackedFor(st: fs.Stats, p: string, readContent: boolean): Tracked {
    const key = keyOf(st)
    let t = this.byInode.get(key)
    if (t === undefined) {
      const image = readContent ? fs.readFileSync(p) : Buffer.alloc(0)
      t = { dev: st.dev, ino: st.ino, paths: [p], image: Buffer.from(image), size: image.length, pending: [] }
      this.byInode.set(key, t)
    }
    return t
  }

  /** Where the inode is now: one of its paths, or a sibling it was renamed to; null when unlinked. */
  private locate(t: Tracked): string | null {
    const same = (q: string): boolean => {
      try {
        const st = fs.statSync(q)
        return st.ino === t.ino && st.dev === t.dev
      } catch {
        return false
      }
    }
    for (const p of [...t.paths].reverse()) if (same(p)) return p
    for (const dir of new Set(t.paths.map((p) => path.dirname(p)))) {
      let names: string[] = []
      try {
        names = fs.readdirSync(dir)
      } catch {
        continue
      }
      for (const n of names) if (same(path.join(dir, n))) return path.join(dir, n)
    }
    return null
  }
}

class FaultyFile implements AsyncFile {
  constructor(
    private readonly io: FaultyIo,
    readonly inner: AsyncFile,
    /** Null for read-only files opened after power loss. */
    readonly tracked: Tracked | null,
  ) {}

  get path(): string {
    return this.inner.path
  }

  readAt(buf: Buffer, offset: number): Promise<ReadResult> {
    if (this.io.dead) return this.off('read')
    return this.io.track(this.inner.readAt(buf, offset), 'read', this.path)
  }

  writeAt(buf: Buffer, offset: number): Promise<WriteResult> {
    if (this.io.dead) return this.off('write')
    return this.io.track(this.doWrite(buf, offset), 'write', this.path)
  }

  append(buf: Buffer): Promise<AppendResult> {
    if (this.io.dead) return this.off('write')
    return this.io.track(
      (async () => {
        const fault = this.io.takeFault('write', this.path)
        if (fault !== null) throw this.io.injectedError(fault.code, 'write', this.path)
        const r = await this.inner.append(buf)
        if (this.tracked && !this.io.dead) this.io.recordWrite(this.tracked, r.position, buf)
        return r
      })(),
      'write',
      this.path,
    )
  }

  syncData(): Promise<void> {
    return this.sync('syncData')
  }

  syncAll(): Promise<void> {
    return this.sync('syncAll')
  }

  size(): Promise<number> {
    if (this.io.dead) return this.off('fstat')
    return this.io.track(this.inner.size(), 'fstat', this.path)
  }

  async allocate(len: number, offset = 0): Promise<void> {
    if (this.io.dead) return this.off('fallocate')
    const fault = this.io.takeFault('allocate', this.path)
    if (fault !== null) throw this.io.injectedError(fault.code, 'fallocate', this.path)
    await this.io.track(this.inner.allocate(len, offset), 'fallocate', this.path)
    if (this.tracked && !this.io.dead) this.io.recordSize(this.tracked, { kind: 'allocate', offset, len })
  }

  async truncate(len: number): Promise<void> {
    if (this.io.dead) return this.off('ftruncate')
    await this.io.track(this.inner.truncate(len), 'ftruncate', this.path)
    if (this.tracked && !this.io.dead) this.io.recordSize(this.tracked, { kind: 'size', size: len })
  }

  close(): Promise<void> {
    return this.inner.close()
  }

  /** The whole of one write, fault injection included; records it once it completed. */
  async doWrite(buf: Buffer, offset: number): Promise<WriteResult> {
    const fault = this.io.takeFault('write', this.path)
    if (fault !== null) {
      if (fault.afterBytes > 0 && buf.byteLength > 0) {
        const part = buf.subarray(0, Math.min(fault.afterBytes, buf.byteLength - 1))
        await this.inner.writeAt(part, offset)
        if (this.tracked && !this.io.dead) this.io.recordWrite(this.tracked, offset, part)
      }
      throw this.io.injectedError(fault.code, 'write', this.path)
    }
    const r = await this.inner.writeAt(buf, offset)
    if (this.tracked && !this.io.dead) this.io.recordWrite(this.tracked, offset, buf)
    return r
  }

  /** One sync: covers what had completed when it was issued, if it succeeds. */
  async doSync(kind: 'syncData' | 'syncAll'): Promise<void> {
    const fault = this.io.takeFault(kind, this.path)
    if (fault !== null) throw this.io.injectedError(fault.code, kind === 'syncData' ? 'fdatasync' : 'fsync', this.path)
    const covered = this.tracked ? [...this.tracked.pending] : []
    await this.inner[kind]()
    this.io.stats.syncs++
    if (this.tracked && !this.io.dead) this.io.makeDurable(this.tracked, covered)
  }

  private sync(kind: 'syncData' | 'syncAll'): Promise<void> {
    const syscall = kind === 'syncData' ? 'fdatasync' : 'fsync'
    if (this.io.dead) return this.off(syscall)
    return this.io.track(this.doSync(kind), syscall, this.path)
  }

  /** Passes through (bytes to a socket are not the disk's state); refused once the power is off. */
  sendTo(socket: Socket, position: number, length: number): Promise<number> {
    if (this.io.dead) return this.off('read')
    return this.io.track(this.inner.sendTo(socket, position, length), 'read', this.path)
  }

  private off<T>(syscall: string): Promise<T> {
    return Promise.reject(this.io.powerOff(syscall, this.path))
  }
}

type WrappedOp =
  | { kind: 'read'; f: AsyncFile; buf: Buffer; offset: number; link: boolean }
  | { kind: 'write'; f: AsyncFile; buf: Buffer; offset: number; link: boolean }
  | { kind: 'syncData'; f: AsyncFile; link: boolean }

const ECANCELED = errnoOf('ECANCELED')
const SYSCALL = { read: 'read', write: 'write', syncData: 'fdatasync' } as const

/**
 * io.batch() through the wrapper. Without an armed fault it is forwarded to the real
 * batch (native linked submissions on io_uring) and the results update the model; with
 * one, the chains are run here, operation by operation, with the same semantics.
 */
class FaultyBatch implements IoBatch {
  private readonly ops: WrappedOp[] = []
  private submitted = false

  constructor(private readonly io: FaultyIo) {}

  get length(): number {
    return this.ops.length
  }

  readAt(f: AsyncFile, buf: Buffer, offset: number, opts?: { link?: boolean }): this {
    this.ops.push({ kind: 'read', f, buf, offset, link: opts?.link === true })
    return this
  }
  writeAt(f: AsyncFile, buf: Buffer, offset: number, opts?: { link?: boolean }): this {
    this.ops.push({ kind: 'write', f, buf, offset, link: opts?.link === true })
    return this
  }
  syncData(f: AsyncFile, opts?: { link?: boolean }): this {
    this.ops.push({ kind: 'syncData', f, link: opts?.link === true })
    return this
  }

  submit(): Promise<BatchResult[]> {
    if (this.submitted) return Promise.reject(Object.assign(new Error('batch submitted already'), { code: 'ERR_IO_BATCH_SUBMITTED' }))
    this.submitted = true
    this.io.stats.batches++
    if (this.io.dead) return Promise.resolve(this.ops.map((op) => ({ ok: false as const, error: this.io.powerOff(SYSCALL[op.kind], op.f.path) })))
    const faulty = this.ops.some((op) => op.kind !== 'read' && op.f instanceof FaultyFile && this.io.hasFaultFor(op.kind, op.f.path))
    return this.io.track(faulty ? this.emulate() : this.forward(), 'io_uring_enter')
  }

  private async forward(): Promise<BatchResult[]> {
    const real = this.io.inner.batch()
    for (const op of this.ops) {
      const f = op.f instanceof FaultyFile ? op.f.inner : op.f
      if (op.kind === 'read') real.readAt(f, op.buf, op.offset, { link: op.link })
      else if (op.kind === 'write') real.writeAt(f, op.buf, op.offset, { link: op.link })
      else real.syncData(f, { link: op.link })
    }
    // What a sync of this batch may cover besides its own chain: writes completed before submission.
    const before = new Map<Tracked, PendingOp[]>()
    for (const op of this.ops) {
      const t = op.f instanceof FaultyFile ? op.f.tracked : null
      if (t && !before.has(t)) before.set(t, [...t.pending])
    }
    const results = await real.submit()
    if (this.io.dead) return results
    let chainWrites = new Map<Tracked, PendingOp[]>()
    this.ops.forEach((op, i) => {
      const t = op.f instanceof FaultyFile ? op.f.tracked : null
      const r = results[i]
      if (t && r.ok) {
        if (op.kind === 'write') {
          this.io.recordWrite(t, op.offset, op.buf)
          const rec = t.pending[t.pending.length - 1]
          chainWrites.set(t, [...(chainWrites.get(t) ?? []), rec])
        } else if (op.kind === 'syncData') {
          this.io.stats.syncs++
          this.io.makeDurable(t, [...(before.get(t) ?? []), ...(chainWrites.get(t) ?? [])].filter((x) => t.pending.includes(x)))
        }
      }
      if (!op.link) chainWrites = new Map()
    })
    return results
  }

  /** The chains run here, through the wrapper's own file operations (faults apply). */
  private async emulate(): Promise<BatchResult[]> {
    this.io.stats.emulatedBatches++
    const results: BatchResult[] = new Array(this.ops.length)
    const chains: number[][] = []
    let cur: number[] = []
    this.ops.forEach((op, i) => {
      cur.push(i)
      if (!op.link || i === this.ops.length - 1) {
        chains.push(cur)
        cur = []
      }
    })
    await Promise.all(
      chains.map(async (chain) => {
        let failed = false
        for (const i of chain) {
          const op = this.ops[i]
          if (failed) {
            results[i] = { ok: false, error: systemError(ECANCELED, SYSCALL[op.kind], op.f.path) }
            continue
          }
          try {
            if (op.kind === 'read') results[i] = { ok: true, bytes: (await op.f.readAt(op.buf, op.offset)).bytesRead }
            else if (op.kind === 'write') {
              if (op.f instanceof FaultyFile) await op.f.doWrite(op.buf, op.offset)
              else await op.f.writeAt(op.buf, op.offset)
              results[i] = { ok: true, bytes: op.buf.byteLength }
            } else {
              if (op.f instanceof FaultyFile) await op.f.doSync('syncData')
              else await op.f.syncData()
              results[i] = { ok: true, bytes: 0 }
            }
          } catch (error) {
            failed = true
            results[i] = { ok: false, error: error as Error }
          }
        }
      }),
    )
    return results
  }
}

/** Wraps a real Io (either backend) in the fault-injecting model. */
export function faultyIo(inner: Io): FaultyIo {
  return new FaultyIo(inner)
}
