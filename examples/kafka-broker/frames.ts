// Kafka framing: every request is an INT32 length and that many bytes. FrameBuffer
// collects socket chunks and cuts whole frames out of them, copying only when a frame
// spans chunks. The length is checked against the maximum before the frame's bytes are
// waited for, so an oversized (or negative) length is refused at once, not buffered.

export type FrameResult =
  | { readonly kind: 'frame'; readonly frame: Buffer }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'too-large'; readonly length: number }

const LENGTH_BYTES = 4

export class FrameBuffer {
  private chunks: Buffer[] = []
  private buffered = 0

  constructor(private readonly maxFrameBytes: number) {}

  get bufferedBytes(): number {
    return this.buffered
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  /** The next whole frame (its bytes after the length), or why there is none. */
  next(): FrameResult {
    if (this.buffered < LENGTH_BYTES) return { kind: 'incomplete' }
    if (this.chunks[0].length < LENGTH_BYTES) this.merge()
    const length = this.chunks[0].readInt32BE(0)
    if (length < 0 || length > this.maxFrameBytes) return { kind: 'too-large', length }
    const total = LENGTH_BYTES + length
    if (this.buffered < total) return { kind: 'incomplete' }
    if (this.chunks[0].length < total) this.merge()
    const first = this.chunks[0]
    const frame = first.subarray(LENGTH_BYTES, total)
    if (first.length === total) this.chunks.shift()
    else this.chunks[0] = first.subarray(total)
    this.buffered -= total
    return { kind: 'frame', frame }
  }

  /** Drops everything (the connection is closing). */
  clear(): void {
    this.chunks = []
    this.buffered = 0
  }

  private merge(): void {
    this.chunks = [Buffer.concat(this.chunks, this.buffered)]
  }
}
