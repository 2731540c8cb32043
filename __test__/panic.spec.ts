// A panic inside the addon becomes a JavaScript error (code ERR_IO_INTERNAL, saying
// where it happened), never an abort: through the addon's test hook testPanic(), and
// through the engine's test hook STREAMLINE_IO_TEST_PANIC=submit|complete (README
// "Test hooks") on both engines, in child processes.

import test from 'ava'

import { cleanEnv, lastJson, runNode, summary } from './helpers/child'
import { fixture, tmpDir } from './helpers/backends'
import { loadAddon, type NativeAddon } from '../ts/native'

type PanicAddon = NativeAddon & { testPanic(place?: string): never }

function addon(): PanicAddon {
  const load = loadAddon()
  if (load.addon === null) throw new Error(`the native addon is missing: ${load.reason}`)
  if (typeof (load.addon as Partial<PanicAddon>).testPanic !== 'function') throw new Error('the addon lacks testPanic() (stale build? npm run build:native)')
  return load.addon as PanicAddon
}

test('testPanic(): a panic in an addon function throws Error ERR_IO_INTERNAL naming the function and the source location', (t) => {
  const a = addon()
  const err = t.throws(() => a.testPanic('from panic.spec'), { instanceOf: Error })
  t.is((err as NodeJS.ErrnoException | undefined)?.code, 'ERR_IO_INTERNAL')
  t.regex(err?.message ?? '', /^internal error in the native addon \(testPanic at crates\/binding\/src\/lib\.rs:\d+:\d+\): test hook: from panic\.spec$/)
  // The process and the addon go on: again, and an ordinary call.
  t.throws(() => a.testPanic(), { instanceOf: Error, code: 'ERR_IO_INTERNAL' } as never)
  t.is(a.strerror(2), 'no such file or directory')
})

interface Report {
  backend?: string
  reason?: string | null
  outcome?: string
  error?: { ctor?: string; code?: string; message?: string }
  closed?: boolean
  uncaught?: { ctor?: string; code?: string; message?: string } | null
  openError?: unknown
  fatal?: string
}

for (const engine of ['inline', 'thread'] as const) {
  test(`${engine}: a panic in submit rejects the operation with ERR_IO_INTERNAL, and the Io still closes`, async (t) => {
    const r = await runNode([fixture('panic-child'), JSON.stringify({ dir: tmpDir(t), at: 'submit' })], {
      env: cleanEnv({ STREAMLINE_IO_TEST_PANIC: 'submit', STREAMLINE_IO_ENGINE: engine }),
      timeoutMs: 60_000,
    })
    t.is(r.signal, null, `no abort: ${summary(r)}`)
    t.is(r.code, 0, summary(r))
    const out = lastJson<Report>(r)
    t.is(out.fatal, undefined)
    t.is(out.backend, 'io_uring', `the hook must hit the addon, not the fallback (${out.reason})`)
    t.is(out.outcome, 'rejected')
    t.is(out.error?.ctor, 'Error')
    t.is(out.error?.code, 'ERR_IO_INTERNAL')
    t.regex(out.error?.message ?? '', /^internal error in the native addon \(submit at crates\/binding\/src\/engine\/mod\.rs:\d+:\d+\): test hook STREAMLINE_IO_TEST_PANIC=submit$/)
    t.true(out.closed)
  })

  test(`${engine}: a panic while handing completions to JavaScript is an 'uncaughtException' ERR_IO_INTERNAL, not an abort`, async (t) => {
    const r = await runNode([fixture('panic-child'), JSON.stringify({ dir: tmpDir(t), at: 'complete' })], {
      env: cleanEnv({ STREAMLINE_IO_TEST_PANIC: 'complete', STREAMLINE_IO_ENGINE: engine }),
      timeoutMs: 60_000,
    })
    t.is(r.signal, null, `no abort: ${summary(r)}`)
    t.is(r.code, 0, summary(r))
    const out = lastJson<Report>(r)
    t.is(out.fatal, undefined)
    t.is(out.backend, 'io_uring', `the hook must hit the addon, not the fallback (${out.reason})`)
    t.is(out.uncaught?.ctor, 'Error', summary(r))
    t.is(out.uncaught?.code, 'ERR_IO_INTERNAL')
    t.regex(out.uncaught?.message ?? '', new RegExp(`^internal error in the native addon \\(completion delivery \\(${engine} engine\\) at crates/binding/src/engine/(thread|inline)\\.rs:\\d+:\\d+\\): test hook STREAMLINE_IO_TEST_PANIC=complete$`))
  })
}
