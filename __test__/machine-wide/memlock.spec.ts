// RLIMIT_MEMLOCK (issue 3): over the limit, registration degrades to plain buffers,
// counted in pool.stats(), and I/O on every buffer stays exact. The child drops to
// nobody (65534) before opening its Io.
//
// Machine-wide: pinned memory counts against the limit per *user* — every process of
// uid 65534 on the machine shares one budget. Measured (issue 15): while another nobody
// process held 6 MiB registered, the child registered 1 of its 12 buffers instead of 7;
// another suite's memlock child does the same to it. So it runs alone with the other
// machine-wide tests (`npm run test:machine-wide`: after the rest of the suite, one test
// at a time, holding the machine's test lock exclusively — scripts/machine-lock.sh).
// Both engine modes explicitly, as the main and thread runs did before it moved here.

import fs from 'node:fs'
import test, { type ExecutionContext } from 'ava'

import { fixture, ioUringExpected, tmpDir, type BackendName } from '../helpers/backends'
import { cleanEnv, lastJson, runNode, summary } from '../helpers/child'
import { isRoot } from '../helpers/tmpfs'
import type { PoolStats } from '../../ts/pool'

const MiB = 1024 * 1024

const rootTest = isRoot ? test.serial : test.serial.skip

for (const engine of ['inline', 'thread'] as const) {
  rootTest(`io_uring (${engine} engine): over RLIMIT_MEMLOCK (nobody, 8 MiB) registration degrades to plain buffers, counted; I/O on every buffer stays exact`, async (t) => {
    await memlockChild(t, 'io_uring', engine)
  })
}

rootTest('standard: the same workload as nobody registers nothing and stays exact', async (t) => {
  await memlockChild(t, 'standard')
})

async function memlockChild(t: ExecutionContext, backend: BackendName, engine?: 'inline' | 'thread'): Promise<void> {
  const dir = tmpDir(t)
  fs.chmodSync(dir, 0o777)
  const r = await runNode([fixture('memlock'), JSON.stringify({ enableIoUring: backend === 'io_uring', dir, buffers: 12 })], {
    env: cleanEnv(engine ? { STREAMLINE_IO_ENGINE: engine } : {}),
    timeoutMs: 60_000,
  })
  const out = lastJson<{
    fatal?: unknown
    uid?: number
    backend?: string
    fallbackReason?: string | null
    limits?: { memlockSoft: number | null; memlockHard: number | null; ulimitL: string }
    stats?: PoolStats
    hits?: number
    ops?: number
    bad?: string[]
    diskOk?: boolean
  }>(r)
  t.is(out.fatal, undefined, summary(r))
  t.is(r.code, 0, summary(r))
  t.is(out.uid, 65534, 'the child runs as nobody')
  t.log(`nobody: /proc/self/limits Max locked memory soft ${out.limits?.memlockSoft} hard ${out.limits?.memlockHard} bytes; sh -c 'ulimit -l' = ${out.limits?.ulimitL} KiB`)
  t.is(out.limits?.memlockSoft, 8 * MiB, 'RLIMIT_MEMLOCK of the unprivileged child is 8 MiB')
  t.is(out.limits?.ulimitL, '8192')
  const s = out.stats!
  t.log(`${backend} as nobody: pool ${JSON.stringify({ registered: s.registered, registrationFailures: s.registrationFailures, lastRegistrationError: s.lastRegistrationError })}, registeredBufferHits ${out.hits} of ${out.ops} ops`)
  t.deepEqual(out.bad, [], 'every read/write on every buffer returned the right bytes')
  t.true(out.diskOk, 'the file holds exactly what was written')
  t.is(s.misses, 12)
  if (backend === 'io_uring') {
    if (ioUringExpected()) t.is(out.backend, 'io_uring', `fallbackReason ${out.fallbackReason}`)
    t.true(s.registered < 12, `12 MiB cannot all be pinned under an 8 MiB limit: registered ${s.registered}`)
    t.true(s.registered >= 1, `the buffers that fit under the limit are registered: ${s.registered}`)
    t.true(s.registered <= 8, `at most 8 MiB pinned: ${s.registered}`)
    t.is(s.registered + s.registrationFailures, 12, 'every buffer is either registered or counted as failed')
    t.regex(String(s.lastRegistrationError), /ENOMEM/)
    t.regex(String(s.lastRegistrationError), /RLIMIT_MEMLOCK/)
    t.is(out.hits, 2 * s.registered, 'exactly the registered buffers used fixed I/O (one write + one read each)')
  } else {
    t.like(s, { registered: 0, registrationFailures: 0, lastRegistrationError: null })
    t.is(out.hits, 0)
  }
}
