// What an Io, a file and a log hold for sendTo before anything is sent: the counters, the
// set of units close() aborts, the argument check, and the loader of ts/sendto.ts itself.
// The units' machinery (the queue, the lease, the copy path) stays unloaded until the
// first sendTo: an Io that never sends does not pay its RSS (memory.spec M1 holds an idle
// Io to 8 MiB over bare Node; loading ts/sendto.ts cost ~150 KiB of it).
import type { Socket } from 'node:net'
import type { SendUnit } from './sendto'

/** ts/sendto.ts, loaded at the first call (then from require's cache). */
export function sendtoModule(): typeof import('./sendto') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./sendto') as typeof import('./sendto')
}

/** Whether `v` can be written to and corked like a net.Socket (what sendTo accepts). */
export function isSocketLike(v: unknown): v is Socket {
  if (v === null || typeof v !== 'object') return false
  const s = v as Partial<Socket>
  return typeof s.write === 'function' && typeof s.cork === 'function' && typeof s.uncork === 'function' && typeof s.once === 'function'
}

/** sendTo's counters of one Io (io.metrics().sendTo). */
export class SendCounters {
  splice = 0
  sendfile = 0
  copy = 0
  prefixBytes = 0
  noDescriptor = 0
  noAddon = 0
  noSplice = 0
  ringFailed = 0
}

/** Units that one owner (an Io, a log) can abort: close() rejects them and waits for them to settle. */
export class UnitSet {
  private readonly units = new Set<SendUnit>()

  get size(): number {
    return this.units.size
  }

  add(u: SendUnit): void {
    if (u.settled) return
    this.units.add(u)
    u.sets.add(this)
  }

  delete(u: SendUnit): void {
    this.units.delete(u)
  }

  /** Fails every unit with `err` (running steps are cancelled) and waits until each has settled. */
  async abortAll(err: Error): Promise<void> {
    const all = [...this.units]
    for (const u of all) u.fail(err)
    await Promise.allSettled(all.map((u) => u.done))
  }
}
