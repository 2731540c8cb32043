// A clock for the group coordinator's unit tests: time moves only when a test advances
// it, and the timers due by then run in time order (timers they schedule included).
import type { CancelTimer, Clock } from '../../examples/kafka-broker/groups/clock'

interface Timer {
  dueMs: number
  seq: number
  fn: () => void
  cancelled: boolean
}

export class FakeClock implements Clock {
  private nowMs = 0
  private seq = 0
  private timers: Timer[] = []

  now(): number {
    return this.nowMs
  }

  schedule(delayMs: number, fn: () => void): CancelTimer {
    const t: Timer = { dueMs: this.nowMs + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false }
    this.timers.push(t)
    return () => {
      t.cancelled = true
    }
  }

  /** Timers still waiting to fire. */
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.nowMs + ms
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled)
      const due = this.timers.filter((t) => t.dueMs <= target).sort((a, b) => a.dueMs - b.dueMs || a.seq - b.seq)[0]
      if (!due) break
      this.timers.splice(this.timers.indexOf(due), 1)
      this.nowMs = due.dueMs
      due.fn()
    }
    this.nowMs = target
  }
}
