// Time for the coordinator, injectable so unit tests drive session and rebalance timeouts
// with a fake clock instead of sleeping.

/** Cancels a scheduled callback; calling it after the callback ran does nothing. */
export type CancelTimer = () => void

export interface Clock {
  now(): number
  /** Runs `fn` once after `delayMs`; returns its cancel. */
  schedule(delayMs: number, fn: () => void): CancelTimer
}

/** Real time. Timers are unref'd: a coordinator waiting on a timeout never keeps the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(delayMs, fn) {
    const t = setTimeout(fn, Math.max(0, delayMs))
    t.unref()
    return () => clearTimeout(t)
  },
}
