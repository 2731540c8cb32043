// At most `limit` operations in flight; later ones wait in a FIFO, one small entry each,
// and their buffers are not touched until they start (DESIGN.md §3). Bounded memory,
// no failure: a caller past the limit waits instead of being refused.
export class Limiter {
  private running = 0
  private readonly waiting: Array<{ weight: number; go: () => void }> = []
  private head = 0
  private idleWaiters: Array<() => void> = []

  constructor(private readonly limit: number) {}

  get inFlight(): number {
    return this.running
  }

  get queued(): number {
    return this.waiting.length - this.head
  }

  /**
   * Starts `start` once `weight` slots are free (a batch of n operations takes n), in
   * arrival order. `weight` must not exceed the limit.
   */
  run<T>(start: () => Promise<T>, weight = 1): Promise<T> {
    if (this.queued === 0 && this.running + weight <= this.limit) return this.start(start, weight)
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ weight, go: () => this.start(start, weight).then(resolve, reject) })
    })
  }

  /**
   * The hot path's variant of `run`: takes `weight` slots now if they are free and
   * nobody waits (true), else takes nothing (false). The caller gives them back with
   * `release`, exactly once, when its operation has settled.
   */
  tryAcquire(weight: number): boolean {
    if (this.head < this.waiting.length || this.running + weight > this.limit) return false
    this.running += weight
    return true
  }

  /** Gives back what `tryAcquire` took; starts waiters that now fit. */
  release(weight: number): void {
    this.done(weight)
  }

  get capacity(): number {
    return this.limit
  }

  /** Resolves once nothing is running or waiting. */
  idle(): Promise<void> {
    if (this.running === 0 && this.queued === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  private start<T>(start: () => Promise<T>, weight: number): Promise<T> {
    this.running += weight
    let promise: Promise<T>
    try {
      promise = start()
    } catch (err) {
      promise = Promise.reject(err)
    }
    return promise.finally(() => this.done(weight))
  }

  private done(weight: number): void {
    this.running -= weight
    // Start waiters in order while the head one fits (no overtaking: FIFO keeps fairness).
    while (this.head < this.waiting.length && this.running + this.waiting[this.head].weight <= this.limit) {
      const next = this.waiting[this.head]
      this.waiting[this.head++] = undefined as unknown as { weight: number; go: () => void }
      next.go()
    }
    // Compact now and then so the FIFO does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head)
      this.head = 0
    }
    if (this.running === 0 && this.queued === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const w of waiters) w()
    }
  }
}
