// Sequential reading of a file through the Io in large chunks: the WAL's and the
// partition log's recovery and scans look at frames or batch headers one by one, but
// each read from the kernel covers many of them.
import type { AsyncFile, Io } from './types'

/** Opens `file` read-only through the Io, runs `fn` with it and its size, and closes it. */
export async function withFile<T>(io: Io, file: string, fn: (f: AsyncFile, size: number) => Promise<T>): Promise<T> {
  const f = await io.open(file)
  try {
    return await fn(f, await f.size())
  } finally {
    await f.close().catch(() => {})
  }
}

export const CHUNK_BYTES = 1024 * 1024
const EMPTY = Buffer.alloc(0)

export class FileWindow {
  private buf: Buffer
  private start = 0
  private end = 0

  constructor(
    readonly file: AsyncFile,
    /** The file's size when opened; nothing at or after it is read. */
    readonly size: number,
    private readonly chunkBytes = CHUNK_BYTES,
  ) {
    // Allocated at the first read, as large as it asks: a window whose reads are all
    // small (readAhead below) never holds a whole chunk.
    this.buf = EMPTY
  }

  /**
   * Bytes [pos, pos + n), fewer at the end of the file. The view is only valid until
   * the next call (the window's buffer is reused). A read from the kernel covers
   * `readAhead` bytes (default: the window's chunk): a caller that knows the next view
   * lies far ahead asks for less, so nothing is copied that it skips.
   */
  async view(pos: number, n: number, readAhead = this.chunkBytes): Promise<Buffer> {
    if (pos >= this.start && pos + n <= this.end) return this.buf.subarray(pos - this.start, pos - this.start + n)
    const want = Math.min(Math.max(n, readAhead), this.size - pos)
    if (want <= 0) return EMPTY
    if (this.buf.length < want) this.buf = Buffer.allocUnsafe(want)
    // The buffer belongs to the read until it settles; nothing else touches it meanwhile.
    const { bytesRead } = await this.file.readAt(this.buf.subarray(0, want), pos)
    this.start = pos
    this.end = pos + bytesRead
    return this.buf.subarray(0, Math.min(n, bytesRead))
  }
}
