// At most `limit` operations in flight; later ones wait in a FIFO, one small entry each,
// and their buffers are not touched until they start (DESIGN.md §3). Bounded memory,
// no failure: a caller past the limit waits instead of being refused.
export class Limiter {
  private running = 0
  private readonly waiting: Array<() => void> = []
  private head = 0
  private idleWaiters: Array<() => void> = []

  constructor(private readonly limit: number) {}

  get inFlight(): number {
    return this.running
  }

  get queued(): number {
    return this.waiting.length - this.head
  }

  run<T>(start: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) return this.start(start)
    return new Promise<T>((resolve, reject) => {
      this.waiting.push(() => this.start(start).then(resolve, reject))
    })
  }

  /** Resolves once nothing is running or waiting. */
  idle(): Promise<void> {
    if (this.running === 0 && this.queued === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  private start<T>(start: () => Promise<T>): Promise<T> {
    this.running++
    let promise: Promise<T>
    try {
      promise = start()
    } catch (err) {
      promise = Promise.reject(err)
    }
    return promise.finally(() => this.done())
  }

  private done(): void {
    this.running--
    if (this.head < this.waiting.length) {
      const next = this.waiting[this.head]
      this.waiting[this.head++] = undefined as unknown as () => void
      // Compact now and then so the FIFO does not grow without bound.
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting.splice(0, this.head)
        this.head = 0
      }
      next()
    } else if (this.running === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const w of waiters) w()
    }
  }
}
