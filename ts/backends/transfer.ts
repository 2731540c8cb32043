// Full transfers over a call that may move fewer bytes than asked (pread/pwrite
// semantics): short transfers are continued here, never surfaced (DESIGN.md §3).
// `step` is the most one call is asked to move: protocol().limits.maxTransferBytes
// (Linux moves at most MAX_RW_COUNT per read/write call; node:fs refuses lengths above
// int32), handed down by the backend.
import { renameSyscall, systemError } from '../errors'

export type TransferOnce = (buf: Uint8Array, bufOffset: number, length: number, position: number) => Promise<number>

/**
 * Reads until `buf` is full or end-of-file; resolves the bytes read. `from`: bytes already
 * read into the start of `buf` (at `position`) by a first call the caller made itself.
 */
export async function readFull(readOnce: TransferOnce, buf: Uint8Array, position: number, step: number, from = 0): Promise<number> {
  let done = from
  while (done < buf.byteLength) {
    let n: number
    try {
      n = await readOnce(buf, done, Math.min(buf.byteLength - done, step), position + done)
    } catch (err) {
      // O_DIRECT at end of file: the first read stopped short at EOF, and reading on
      // from that unaligned position is EINVAL. What was read is the answer, as at an
      // ordinary end of file (the io_uring engine does the same).
      if (done > 0 && (err as { code?: string }).code === 'EINVAL') break
      throw err
    }
    if (n === 0) break
    done += n
  }
  return done
}

/** Writes `buf` whole; a write that makes no progress is an I/O error, not a hang. */
export async function writeFull(writeOnce: TransferOnce, buf: Uint8Array, position: number, path: string, step: number): Promise<void> {
  let done = 0
  while (done < buf.byteLength) {
    const n = await writeOnce(buf, done, Math.min(buf.byteLength - done, step), position + done)
    if (n <= 0) throw systemError(5 /* EIO */, 'write', path)
    done += n
  }
}

const ZERO_CHUNK_BYTES = 1 << 20
const EMPTY = new Uint8Array(0)

/**
 * fallocate(2) mode 0 where node:fs has none: zeros are written from the end of the
 * file (or `offset`, if beyond) to `offset + len`, so the blocks are really allocated
 * and existing data is kept. Holes inside the old size stay holes. Errors name
 * 'fallocate', as the io_uring backend's do.
 */
export async function allocateByZeroFill(
  writeOnce: TransferOnce,
  sizeNow: () => Promise<number>,
  offset: number,
  len: number,
  path: string,
): Promise<void> {
  try {
    // A zero-length write refuses a read-only descriptor with EBADF, as fallocate does.
    await writeOnce(EMPTY, 0, 0, offset)
    const end = offset + len
    const from = Math.max(await sizeNow(), offset)
    if (from >= end) return
    const zeros = new Uint8Array(Math.min(ZERO_CHUNK_BYTES, end - from))
    for (let pos = from; pos < end; pos += zeros.byteLength) {
      await writeFull(writeOnce, zeros.subarray(0, Math.min(zeros.byteLength, end - pos)), pos, path, ZERO_CHUNK_BYTES)
    }
  } catch (err) {
    throw renameSyscall(err, 'fallocate')
  }
}
