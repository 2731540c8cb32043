// Linked-chain semantics (IOSQE_IO_LINK) in JavaScript, for a backend without links:
// operations of one chain run one after another; the first failure cancels the rest
// of its chain with ECANCELED; separate chains run concurrently.
import { systemError } from '../errors'
import type { Backend, BatchOp, BatchResult } from './backend'

const ECANCELED = 125
const SYSCALL: Record<BatchOp['kind'], string> = { read: 'read', write: 'write', syncData: 'fdatasync' }

/** Splits `ops` into chains: an op with `link` joins the one after it. */
export function chainsOf(ops: readonly BatchOp[]): number[][] {
  const chains: number[][] = []
  let current: number[] = []
  ops.forEach((op, i) => {
    current.push(i)
    if (!op.link) {
      chains.push(current)
      current = []
    }
  })
  if (current.length > 0) chains.push(current)
  return chains
}

export async function runChains(ops: readonly BatchOp[], run: (op: BatchOp) => Promise<number>): Promise<BatchResult[]> {
  const results: BatchResult[] = new Array(ops.length)
  await Promise.all(
    chainsOf(ops).map(async (chain) => {
      let failed = false
      for (const i of chain) {
        const op = ops[i]
        if (failed) {
          results[i] = { ok: false, error: systemError(ECANCELED, SYSCALL[op.kind], op.file.path) }
          continue
        }
        try {
          results[i] = { ok: true, bytes: await run(op) }
        } catch (err) {
          failed = true
          results[i] = { ok: false, error: err as Error }
        }
      }
    }),
  )
  return results
}

/** One batch operation through a backend's ordinary methods (no links of its own). */
export function runOnBackend(backend: Backend, op: BatchOp): Promise<number> {
  switch (op.kind) {
    case 'read': return backend.read(op.file, op.buf!, op.offset)
    case 'write': return backend.write(op.file, op.buf!, op.offset).then(() => op.buf!.byteLength)
    case 'syncData': return backend.sync(op.file, true).then(() => 0)
  }
}
