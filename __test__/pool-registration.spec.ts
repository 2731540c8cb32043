// io.pool's registration bookkeeping (ts/pool.ts) against a model registered-buffer
// table whose answers the test releases by hand, so every interleaving below is exact,
// not a matter of timing (issue 15): a dropped buffer's slot is emptied ahead of a
// registration asked for after the release; a registration refused because the table
// is full while slots are being emptied is tried again once they are (counted in
// registrationRetries), a bounded number of times; with nothing being emptied ENOBUFS is
// a failure at once; a buffer dropped while its registration waits does not retry, so
// no two registrations can wait on each other.
import test from 'ava'

import { BufferPool, REGISTRATION_ATTEMPTS, type PoolMemory } from '../ts/pool'

interface Call {
  kind: 'register' | 'unregister'
  slot?: number
  settle: () => void
}

/** A table of `slots` slots. Calls are recorded and answered only when settled. */
class ModelTable {
  readonly calls: Call[] = []
  private readonly used = new Set<number>()
  constructor(private readonly slots: number) {}

  /** Takes a slot from outside the pool (another user of the same ring). */
  occupy(slot: number): void {
    this.used.add(slot)
  }

  memory(): PoolMemory {
    return {
      aligned: false,
      allocate: (size) => Buffer.alloc(size),
      register: () =>
        new Promise((resolve, reject) => {
          // Applied in call order when settled, as the engine applies table updates.
          this.calls.push({
            kind: 'register',
            settle: () => {
              for (let s = 0; s < this.slots; s++) {
                if (!this.used.has(s)) {
                  this.used.add(s)
                  return resolve(s)
                }
              }
              reject(Object.assign(new Error('ENOBUFS: no buffer space available, io_uring_register'), { code: 'ENOBUFS' }))
            },
          })
        }),
      unregister: (slot) =>
        new Promise<void>((resolve) => {
          this.calls.push({ kind: 'unregister', slot: slot as number, settle: () => (this.used.delete(slot as number), resolve()) })
        }),
    }
  }

  /** Answers the oldest call not answered yet. */
  settleNext(): void {
    this.calls.shift()!.settle()
  }

  /** Answers every call made so far, in order; returns their kinds. */
  settleAll(): string[] {
    const calls = this.calls.splice(0)
    for (const c of calls) c.settle()
    return calls.map((c) => (c.kind === 'unregister' ? `unregister ${c.slot}` : 'register'))
  }
}

/** Lets every settled answer reach the pool (promise reactions only, no timers). */
async function drain(): Promise<void> {
  for (let i = 0; i < 20; i++) await null
}

/** Answers calls until none are left (what the ring does by itself). */
async function run(table: ModelTable, pool: BufferPool): Promise<string[]> {
  const log: string[] = []
  while (table.calls.length > 0) {
    log.push(...table.settleAll())
    await drain()
  }
  await pool.settled()
  return log
}

test('a dropped buffer is emptied before a registration asked for after its release (full table, same tick)', async (t) => {
  const table = new ModelTable(2)
  const pool = new BufferPool([4096], 0, table.memory())
  const a = pool.acquire(4096)
  const b = pool.acquire(4096)
  await run(table, pool)
  t.like(pool.stats(), { registered: 2, registrationFailures: 0 })
  pool.release(a) // keep 0: dropped
  const c = pool.acquire(4096)
  t.deepEqual(table.calls.map((x) => x.kind), ['unregister', 'register'], 'the emptying goes first')
  await run(table, pool)
  t.like(pool.stats(), { registered: 2, registrationFailures: 0, registrationRetries: 0, lastRegistrationError: null })
  pool.release(b)
  pool.release(c)
  await run(table, pool)
  t.like(pool.stats(), { registered: 0, registrationFailures: 0 })
})

test('a registration refused (ENOBUFS) while a dropped buffer is still being registered is tried again once its slot is emptied', async (t) => {
  const table = new ModelTable(1)
  const pool = new BufferPool([4096], 0, table.memory())
  const a = pool.acquire(4096)
  pool.release(a) // dropped before its registration was answered
  const b = pool.acquire(4096)
  t.deepEqual(table.calls.map((x) => x.kind), ['register', 'register'], 'the emptying of a cannot be asked before its slot is known')
  // a gets the slot, b is refused; then a's slot is emptied and b asks again.
  const log = await run(table, pool)
  t.deepEqual(log, ['register', 'register', 'unregister 0', 'register'])
  t.like(pool.stats(), { registered: 1, registrationFailures: 0, registrationRetries: 1, lastRegistrationError: null })
  pool.release(b)
  await run(table, pool)
  t.like(pool.stats(), { registered: 0, registrationFailures: 0, registrationRetries: 1 })
})

test('ENOBUFS with nothing being emptied is a failure at once (counted, with the reason), not a retry', async (t) => {
  const table = new ModelTable(1)
  const pool = new BufferPool([4096], 4, table.memory())
  pool.acquire(4096)
  pool.acquire(4096)
  const log = await run(table, pool)
  t.deepEqual(log, ['register', 'register'])
  t.like(pool.stats(), { registered: 1, registrationFailures: 1, registrationRetries: 0 })
  t.regex(String(pool.stats().lastRegistrationError), /ENOBUFS/)
})

test(`a table someone keeps refilling: ${REGISTRATION_ATTEMPTS} tries, each after an emptying, then a counted failure`, async (t) => {
  // Slot 0 is someone else's for good; slot 1 changes hands while the victim waits.
  const table = new ModelTable(2)
  table.occupy(0)
  const pool = new BufferPool([4096], 0, table.memory())
  let current = pool.acquire(4096)
  await run(table, pool)
  t.like(pool.stats(), { registered: 1 })
  const victim = pool.acquire(4096)
  for (let attempt = 1; attempt <= REGISTRATION_ATTEMPTS; attempt++) {
    // Before the victim's try is answered, the slot's holder is dropped and a newcomer
    // asks: [register victim, unregister 1, register newcomer].
    pool.release(current)
    current = pool.acquire(4096)
    t.deepEqual(table.calls.map((c) => c.kind), ['register', 'unregister', 'register'], `try ${attempt}`)
    table.settleNext() // the victim is refused while slot 1 is being emptied
    await drain()
    table.settleNext() // emptied …
    table.settleNext() // … and taken by the newcomer
    await drain() // the victim asks again (but the last time)
  }
  t.is(table.calls.length, 0, 'no try after the last')
  const s = pool.stats()
  t.is(s.registrationRetries, REGISTRATION_ATTEMPTS - 1, 'every try after the first is a retry')
  t.is(s.registrationFailures, 1, 'then the victim stays a plain buffer, counted')
  t.regex(String(s.lastRegistrationError), /ENOBUFS/)
  pool.release(victim)
  pool.release(current)
  await run(table, pool)
  t.like(pool.stats(), { registered: 0 })
})

test('buffers dropped while their registrations wait do not retry: two such never wait on each other', async (t) => {
  const table = new ModelTable(1)
  table.occupy(0)
  const pool = new BufferPool([4096], 0, table.memory())
  const x = pool.acquire(4096)
  const y = pool.acquire(4096)
  pool.release(x) // dropped: its emptying waits for its registration
  pool.release(y)
  const log = await run(table, pool) // settled() resolving is the assertion that nothing waits forever
  t.deepEqual(log, ['register', 'register'], 'no retry for dropped buffers')
  t.like(pool.stats(), { registered: 0, registrationFailures: 2, registrationRetries: 0 })
})
