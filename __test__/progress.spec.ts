// The hang detectors that follow progress (issue 15), tested themselves.
// - The many-operation detectors (helpers/progress.ts): a never-settling operation — a
//   lost completion — still fails them, with how many of N settled and for how long none
//   did; a workload that keeps settling passes however long it takes in total. The
//   progressing cases run on a clock the test advances, so nothing here depends on how
//   busy the machine is.
// - The child-process watchdog (helpers/child.ts): an idle child is killed as hung, and
//   says so; a child that never stops working is killed by the livelock backstop; work
//   done by a child or a grandchild counts as activity.
import { spawn } from 'node:child_process'
import test from 'ava'

import { activityOf, runNode } from './helpers/child'
import { Progress, allSettledWhileProgressing, allWhileProgressing, settleWhileProgressing } from './helpers/progress'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface Op {
  p: Promise<number>
  resolve: (v: number) => void
  reject: (e: unknown) => void
}

function op(): Op {
  let resolve!: (v: number) => void
  let reject!: (e: unknown) => void
  const p = new Promise<number>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { p, resolve, reject }
}

test('a never-settling operation fails the detector: "0 of 1 settled, none for … s"', async (t) => {
  const never = new Promise<number>(() => {})
  const e = await t.throwsAsync(allSettledWhileProgressing([never], 'one lost completion', { stallMs: 200, pollMs: 10 }))
  t.regex(e!.message, /^one lost completion: no progress — 0 of 1 settled, none for \d+\.\d s \(none at all; \d+\.\d s since the start\)$/)
  t.log(e!.message)
})

test('one lost completion among settled operations fails it: "3 of 4 settled", and when the last one settled', async (t) => {
  const ops = [op(), op(), op(), op()]
  for (const o of ops.slice(0, 3)) o.resolve(1)
  const e = await t.throwsAsync(allSettledWhileProgressing(ops.map((o) => o.p), '4 operations', { stallMs: 200, pollMs: 10 }))
  t.regex(e!.message, /^4 operations: no progress — 3 of 4 settled, none for \d+\.\d s \(the last \d+\.\d s after the start; /)
})

test('a workload that keeps settling passes, however long it takes in total (advanced clock)', async (t) => {
  let clock = 0
  const now = (): number => clock
  const ops = Array.from({ length: 20 }, op)
  const done = allSettledWhileProgressing(
    ops.map((o) => o.p),
    '20 slow operations',
    { stallMs: 1_000, pollMs: 1, now },
  )
  for (const [i, o] of ops.entries()) {
    // 0.9 s between two settlements: never a whole stall interval, 18 s in all.
    clock += 900
    await sleep(5) // the detector polls meanwhile
    if (i % 2 === 0) o.resolve(i)
    else o.reject(new Error(`op ${i}`))
  }
  const settled = await done
  t.is(settled.length, 20)
  t.deepEqual(
    settled.map((s) => s.status),
    ops.map((_, i) => (i % 2 === 0 ? 'fulfilled' : 'rejected')),
    'the results are Promise.allSettled\'s',
  )
  t.true(clock > 10 * 1_000, 'a total-time deadline of the stall interval would have failed it')
})

test('a workload that stops settling half-way fails it then (advanced clock): "5 of 10 settled, none for 1.0 s"', async (t) => {
  let clock = 0
  const now = (): number => clock
  const ops = Array.from({ length: 10 }, op)
  const done = allSettledWhileProgressing(
    ops.map((o) => o.p),
    'half',
    { stallMs: 1_000, pollMs: 1, now },
  )
  for (const o of ops.slice(0, 5)) {
    clock += 500
    await sleep(2)
    o.resolve(0)
  }
  await sleep(2)
  clock += 1_000
  const e = await t.throwsAsync(done)
  t.is(e!.message, 'half: no progress — 5 of 10 settled, none for 1.0 s (the last 2.5 s after the start; 3.5 s since the start)')
})

test('Progress.tick counts operations of a loop that settles only at its end', async (t) => {
  let clock = 0
  const now = (): number => clock
  const progress = new Progress(30, now)
  const loop = (async () => {
    for (let i = 0; i < 30; i++) {
      clock += 600
      await sleep(1)
      progress.tick()
    }
    return 'done'
  })()
  t.is(await settleWhileProgressing(loop, progress, 'loop', { stallMs: 1_000, pollMs: 1, now }), 'done')
  t.is(progress.settled, 30)
  // And a loop that stops ticking is a hang.
  const stuck = new Progress(30, now)
  stuck.tick()
  clock += 1_000
  const e = await t.throwsAsync(settleWhileProgressing(new Promise(() => {}), stuck, 'stuck loop', { stallMs: 1_000, pollMs: 1, now }))
  t.regex(e!.message, /^stuck loop: no progress — 1 of 30 settled, none for 1\.0 s/)
})

test('allWhileProgressing rejects as Promise.all does: with the first rejection, not the detector', async (t) => {
  const ops = [op(), op()]
  ops[1].reject(new Error('boom'))
  await t.throwsAsync(allWhileProgressing(ops.map((o) => o.p), 'two', { stallMs: 60_000 }), { message: 'boom' })
  ops[0].resolve(1)
  t.deepEqual(await allWhileProgressing([Promise.resolve(1), Promise.resolve(2)], 'ok'), [1, 2])
  t.deepEqual(await allSettledWhileProgressing([], 'none'), [])
})

test('runNode kills a child that sits idle (no CPU, I/O or output) for timeoutMs, and says so', async (t) => {
  const r = await runNode(['-e', 'setInterval(() => {}, 1 << 30)'], { timeoutMs: 500 })
  t.true(r.timedOut)
  t.is(r.signal, 'SIGKILL')
  t.regex(r.killedBecause ?? '', /^no CPU time, I\/O or output for \d+\.\d s \(ran \d+\.\d s; last active \d+\.\d s after its start\)$/)
})

test('runNode kills a child that keeps working past maxMs (the livelock backstop)', async (t) => {
  const r = await runNode(['-e', 'for (;;) {}'], { timeoutMs: 60_000, maxMs: 500 })
  t.true(r.timedOut)
  t.regex(r.killedBecause ?? '', /^still running after 0\.5 s, the livelock backstop/)
})

test('activityOf sees the work of a grandchild under an idle child (CPU time and I/O of the whole tree)', async (t) => {
  // The child starts a grandchild and idles; the grandchild works on SIGUSR1, writing
  // "done" to the stdout it shares with the child (the child does nothing meanwhile).
  const grand = `process.on('SIGUSR1', () => { let x = 0; for (let i = 0; i < 2e7; i++) x += i; require('fs').writeSync(1, 'done ' + x + '\\n') }); require('fs').writeSync(1, 'grand ' + process.pid + '\\n'); setInterval(() => {}, 1 << 30)`
  const parent = `require('child_process').spawn(process.execPath, ['-e', ${JSON.stringify(grand)}], { stdio: 'inherit' }); setInterval(() => {}, 1 << 30)`
  const child = spawn(process.execPath, ['-e', parent], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // Not a group leader: the two are killed below.
    }
  })
  let out = ''
  const line = (re: RegExp): Promise<RegExpMatchArray> =>
    new Promise((resolve) => {
      const check = (): void => {
        const m = re.exec(out)
        if (m) {
          child.stdout.off('data', onData)
          resolve(m)
        }
      }
      const onData = (d: Buffer): void => {
        out += d.toString()
        check()
      }
      child.stdout.on('data', onData)
      check()
    })
  const grandPid = Number((await line(/grand (\d+)\n/))[1])
  try {
    const before = activityOf(child.pid!)
    t.truthy(before)
    t.true(before!.includes(`;${grandPid}:`), "the grandchild is part of the child's activity")
    process.kill(grandPid, 'SIGUSR1')
    await line(/done \d+\n/)
    t.not(activityOf(child.pid!), before, "the grandchild's work changed the tree's activity")
  } finally {
    process.kill(grandPid, 'SIGKILL')
    child.kill('SIGKILL')
  }
  t.is(activityOf(-1), null)
})
