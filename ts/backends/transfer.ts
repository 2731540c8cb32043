// Full transfers over a call that may move fewer bytes than asked (pread/pwrite
// semantics): short transfers are continued here, never surfaced (DESIGN.md §3).
import { systemError } from '../errors'

export type TransferOnce = (buf: Uint8Array, bufOffset: number, length: number, position: number) => Promise<number>

/** Reads until `buf` is full or end-of-file; resolves the bytes read. */
export async function readFull(readOnce: TransferOnce, buf: Uint8Array, position: number): Promise<number> {
  let done = 0
  while (done < buf.byteLength) {
    const n = await readOnce(buf, done, buf.byteLength - done, position + done)
    if (n === 0) break
    done += n
  }
  return done
}

/** Writes `buf` whole; a write that makes no progress is an I/O error, not a hang. */
export async function writeFull(writeOnce: TransferOnce, buf: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0
  while (done < buf.byteLength) {
    const n = await writeOnce(buf, done, buf.byteLength - done, position + done)
    if (n <= 0) throw systemError(5 /* EIO */, 'write', path)
    done += n
  }
}
