// Huge lengths: one buffer over 2 GiB. Linux transfers at most 0x7ffff000 bytes per
// read/write call, so these only pass if the library continues short transfers, and
// they catch lengths squeezed through 32-bit integers. Each runs in a child process (a
// crash fails the test, not the whole run) and serially (each needs ~4 GiB).

import fs from 'node:fs'
import test from 'ava'

import { backends, fixture, ioUringExpected, tmpDir } from './helpers/backends'
import { cleanEnv, runNode, summary } from './helpers/child'

const HUGE = 2 ** 31 + 4096 + 3

function lines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

for (const backend of backends) {
  test.serial(`${backend}: a ${HUGE}-byte buffer reads a small file up to EOF`, async (t) => {
    const dir = tmpDir(t)
    const r = await runNode([fixture('huge'), JSON.stringify({ enableIoUring: backend === 'io_uring', dir, step: 'read-eof' })], {
      env: cleanEnv(),
      timeoutMs: 90_000,
    })
    const out = lines(r.stdout)
    const done = out.find((o) => o.phase === 'done')
    t.is(r.signal, null, `the process crashed: ${summary(r)}`)
    t.truthy(done, summary(r))
    if (backend === 'io_uring' && ioUringExpected()) t.is(out[0]?.backend, 'io_uring', summary(r))
    t.like(done ?? {}, { bytesRead: 9995, sameBuffer: true, contentOk: true })
  })

  test.serial(`${backend}: writeAt of one ${HUGE}-byte buffer writes it whole (short writes continued), readAt reads it whole`, async (t) => {
    const dir = tmpDir(t)
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    const r = await runNode([fixture('huge'), JSON.stringify({ enableIoUring: backend === 'io_uring', dir, step: 'write-read' })], {
      env: cleanEnv(),
      timeoutMs: 120_000,
    })
    const out = lines(r.stdout)
    const done = out.find((o) => o.phase === 'done')
    t.is(r.signal, null, `the process crashed: ${summary(r)}`)
    t.truthy(done, summary(r))
    if (backend === 'io_uring' && ioUringExpected()) t.is(out[0]?.backend, 'io_uring', summary(r))
    t.like(done ?? {}, {
      bytesWritten: HUGE,
      size: HUGE + 1,
      bytesRead: HUGE,
      equal: true,
      windows: { '0': true, [String(0x7ffff000 - 7)]: true, [String(2 ** 31 - 3)]: true, [String(HUGE - 100)]: true },
    })
  })
}
