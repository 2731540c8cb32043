// Hang detectors for workloads of many operations that detect hangs, not slowness (issue
// 15). A total-time deadline ("10000 operations did not settle within 90 s") fails a run
// that is merely starved — on a 2-core machine shared with other suites every operation
// still completes, only later — and says nothing about which. These fail only when NO
// operation has settled for `stallMs` (default 120 s), and say how many of the N had
// settled and how long ago the last one did: a lost completion still fails (the
// operations waiting on it never settle), a slow but progressing run passes.
import type { ExecutionContext } from 'ava'

/** No settled operation for this long is a hang (the default of the detectors below). */
export const STALL_MS = 120_000

/** Counts the settled operations of one workload of `total`. */
export class Progress {
  settled = 0
  readonly startedAt: number
  lastAt: number

  constructor(
    readonly total: number,
    private readonly now: () => number = monotonicMs,
  ) {
    this.startedAt = now()
    this.lastAt = this.startedAt
  }

  /** One operation settled (for loops that run many operations per promise). */
  tick(): void {
    this.settled++
    this.lastAt = this.now()
  }

  /** `p`, whose settling counts as one operation. */
  track<T>(p: Promise<T>): Promise<T> {
    return p.finally(() => this.tick())
  }

  /** How far it got: "3 of 10 settled, none for 121 s (the last 4.2 s after the start)". */
  describe(): string {
    const t = this.now()
    const since = ((t - this.lastAt) / 1000).toFixed(1)
    const last = this.settled === 0 ? 'none at all' : `the last ${((this.lastAt - this.startedAt) / 1000).toFixed(1)} s after the start`
    return `${this.settled} of ${this.total} settled, none for ${since} s (${last}; ${((t - this.startedAt) / 1000).toFixed(1)} s since the start)`
  }
}

export interface StallOptions {
  /** No progress for this long fails (default STALL_MS). */
  stallMs?: number
  /** How often progress is checked (default stallMs / 20, at most 5 s). */
  pollMs?: number
  /**
   * The test: while operations settle, its ava timeout (t.timeout) is kept at twice
   * stallMs from the latest progress, which also keeps ava's run-wide inactivity timeout
   * from ending a long, progressing test. Replaces a t.timeout the test set before.
   */
  t?: ExecutionContext
  /** The clock (ms, monotonic); for the detector's own tests. */
  now?: () => number
}

function monotonicMs(): number {
  return performance.now()
}

/**
 * Settles as `p` does — unless no operation counted by `progress` settles for stallMs
 * first: then rejects with "`what`: no progress — n of N settled, none for … s".
 */
export function settleWhileProgressing<T>(p: Promise<T>, progress: Progress, what: string, opts: StallOptions = {}): Promise<T> {
  const stallMs = opts.stallMs ?? STALL_MS
  const pollMs = opts.pollMs ?? Math.min(5_000, Math.max(1, Math.floor(stallMs / 20)))
  const now = opts.now ?? monotonicMs
  let finished = false
  let timer: NodeJS.Timeout | undefined
  let immediate: NodeJS.Immediate | undefined
  let seen = -1
  const guard = new Promise<never>((_, reject) => {
    const stalled = (): boolean => now() - progress.lastAt >= stallMs
    const poll = (): void => {
      if (finished) return
      if (!stalled()) {
        if (opts.t && progress.settled !== seen) {
          seen = progress.settled
          opts.t.timeout(2 * stallMs, `${what}: ava's timeout (twice the ${stallMs} ms progress detector's) — ${progress.describe()}`)
        }
        timer = setTimeout(poll, pollMs)
        return
      }
      // A process starved for a long time runs its due timers before the I/O callbacks
      // already waiting for it: let those run, then judge.
      immediate = setImmediate(() => {
        if (finished) return
        if (stalled()) reject(new Error(`${what}: no progress — ${progress.describe()}`))
        else timer = setTimeout(poll, pollMs)
      })
    }
    timer = setTimeout(poll, pollMs)
  })
  return Promise.race([p, guard]).finally(() => {
    finished = true
    clearTimeout(timer)
    if (immediate) clearImmediate(immediate)
  })
}

/** Promise.allSettled(ps), failing only when none of `ps` settled for stallMs (settleWhileProgressing). */
export function allSettledWhileProgressing<T>(ps: ReadonlyArray<Promise<T>>, what: string, opts: StallOptions = {}): Promise<Array<PromiseSettledResult<T>>> {
  const progress = new Progress(ps.length, opts.now)
  return settleWhileProgressing(Promise.allSettled(ps.map((p) => progress.track(p))), progress, what, opts)
}

/** Promise.all(ps) (rejects with the first rejection), failing only when none of `ps` settled for stallMs. */
export function allWhileProgressing<T>(ps: ReadonlyArray<Promise<T>>, what: string, opts: StallOptions = {}): Promise<T[]> {
  const progress = new Progress(ps.length, opts.now)
  return settleWhileProgressing(Promise.all(ps.map((p) => progress.track(p))), progress, what, opts)
}
