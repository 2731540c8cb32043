// Detection and fallback, through the documented test hooks (docs/ARCHITECTURE.md §3),
// each in a child process since the hooks are read from the environment at startup.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'

import { openIo } from '../ts/index'
import { ioUringExpected, openBackend, tmpDir } from './helpers/backends'
import { probeChild } from './helpers/probe'

const expectUring = ioUringExpected()

function fakeStatus(t: import('ava').ExecutionContext, seccomp: number): string {
  const dir = tmpDir(t)
  const file = path.join(dir, 'status')
  const real = fs.readFileSync('/proc/self/status', 'utf8')
  const body = /^Seccomp:/m.test(real)
    ? real.replace(/^Seccomp:.*$/m, `Seccomp:\t${seccomp}`)
    : `${real}Seccomp:\t${seccomp}\n`
  fs.writeFileSync(file, body)
  return file
}

test('io_uring: with io_uring available, fallbackReason is null and io.kernel reports release, opcodes and features', async (t) => {
  const io = await openBackend(t, 'io_uring')
  if (io.backend !== 'io_uring') {
    t.pass('io_uring not available here (openBackend logged why)')
    return
  }
  t.is(io.fallbackReason, null)
  t.is(io.kernel.release, os.release())
  t.is(io.kernel.ioUring, true)
  t.true(Array.isArray(io.kernel.opcodes) && io.kernel.opcodes.length > 0, `opcodes: ${JSON.stringify(io.kernel.opcodes)}`)
  t.true(io.kernel.opcodes.every((o) => typeof o === 'string'))
  for (const op of [/read/i, /write/i, /fsync/i, /fallocate/i, /open/i, /close/i]) {
    t.true(io.kernel.opcodes.some((o) => op.test(o)), `opcodes include ${op}: ${JSON.stringify(io.kernel.opcodes)}`)
  }
  t.true(Array.isArray(io.kernel.features) && io.kernel.features.every((f) => typeof f === 'string'), `features: ${JSON.stringify(io.kernel.features)}`)
  t.true(io.kernel.features.length > 0, 'a 6.x kernel reports ring features (e.g. NODROP)')
  t.is(io.degradedOps, 0)
})

test('standard: enableIoUring false → backend standard, fallbackReason says disabled by config', async (t) => {
  const io = await openIo({ enableIoUring: false })
  try {
    t.is(io.backend, 'standard')
    t.is(typeof io.fallbackReason, 'string')
    t.regex(String(io.fallbackReason), /disabl/i)
    t.regex(String(io.fallbackReason), /config|enableIoUring|STREAMLINE_IO_URING|enable-io-uring/i)
    t.is(io.kernel.release, os.release(), 'io.kernel.release is reported on the standard backend too')
    t.is(typeof io.kernel.ioUring, 'boolean')
    t.true(Array.isArray(io.kernel.opcodes))
    t.true(Array.isArray(io.kernel.features))
    t.is(io.degradedOps, 0)
  } finally {
    await io.close()
  }
})

test('standard: STREAMLINE_IO_URING=false in the environment → standard, reason names the configuration', async (t) => {
  const { out, summary } = await probeChild({ STREAMLINE_IO_URING: 'false' })
  t.is(out.fatal, undefined, summary)
  t.is(out.backend, 'standard', summary)
  t.regex(String(out.fallbackReason), /disabl/i)
  t.regex(String(out.fallbackReason), /config|enableIoUring|STREAMLINE_IO_URING|enable-io-uring/i)
})

test('io_uring: test hook SETUP_ERRNO=ENOMEM → standard; the reason names memory limits (RLIMIT_MEMLOCK)', async (t) => {
  const dir = tmpDir(t)
  const { out, summary } = await probeChild({ STREAMLINE_IO_TEST_SETUP_ERRNO: 'ENOMEM' }, { dir, ops: 200 })
  t.is(out.fatal, undefined, summary)
  t.is(out.backend, 'standard', summary)
  t.regex(String(out.fallbackReason), /memlock|memory/i, summary)
  t.notRegex(String(out.fallbackReason), /seccomp/i, 'no seccomp evidence here')
  t.is(out.workload?.errorCount, 0, `the standard backend does the work: ${JSON.stringify(out.workload?.errors)}`)
  t.true(out.workload?.diskOk)
})

test('io_uring: test hook SETUP_ERRNO=EPERM with Seccomp: 2 in the (fake) status → standard; the reason names seccomp', async (t) => {
  const status = fakeStatus(t, 2)
  const { out, summary } = await probeChild({ STREAMLINE_IO_TEST_SETUP_ERRNO: 'EPERM', STREAMLINE_IO_TEST_PROC_STATUS: status })
  t.is(out.fatal, undefined, summary)
  t.is(out.backend, 'standard', summary)
  t.regex(String(out.fallbackReason), /seccomp/i, summary)
  if (expectUring) t.notRegex(String(out.fallbackReason), /io_uring_disabled\s*(is|=)\s*[12]/, 'the sysctl is 0 here: it must not be blamed')
})

test('io_uring: test hook SETUP_ERRNO=EPERM without seccomp or sysctl evidence → standard; the reason differs from the seccomp one', async (t) => {
  const none = await probeChild({ STREAMLINE_IO_TEST_SETUP_ERRNO: 'EPERM', STREAMLINE_IO_TEST_PROC_STATUS: fakeStatus(t, 0) })
  const sec = await probeChild({ STREAMLINE_IO_TEST_SETUP_ERRNO: 'EPERM', STREAMLINE_IO_TEST_PROC_STATUS: fakeStatus(t, 2) })
  t.is(none.out.fatal, undefined, none.summary)
  t.is(none.out.backend, 'standard', none.summary)
  const reason = String(none.out.fallbackReason)
  t.true(reason.length > 0)
  // Same errno, different evidence: the words must differ (evidence, not errno alone).
  t.not(reason, String(sec.out.fallbackReason), 'Seccomp: 0 and Seccomp: 2 must not give the same reason')
  t.regex(reason, /EPERM|permi|denied/i, 'the errno is all the evidence there is')
  if (expectUring) t.notRegex(reason, /io_uring_disabled\s*(is|=)\s*[12]/, `the sysctl is 0: ${reason}`)
  t.log(reason)
})

test('io_uring: test hook SETUP_ERRNO=ENOSYS → standard with a reason', async (t) => {
  const { out, summary } = await probeChild({ STREAMLINE_IO_TEST_SETUP_ERRNO: 'ENOSYS' })
  t.is(out.fatal, undefined, summary)
  t.is(out.backend, 'standard', summary)
  t.true(String(out.fallbackReason ?? '').length > 0, summary)
})

test('io_uring: test hook KERNEL_RELEASE=5.4.0 → standard; the reason names the 5.11 minimum', async (t) => {
  const { out, summary } = await probeChild({ STREAMLINE_IO_TEST_KERNEL_RELEASE: '5.4.0' })
  t.is(out.fatal, undefined, summary)
  t.is(out.backend, 'standard', summary)
  t.regex(String(out.fallbackReason), /5\.11/, summary)
  t.regex(String(out.fallbackReason), /5\.4/, 'and the release it saw')
})

test('io_uring: test hook KERNEL_RELEASE=5.10.250 → standard (just below the minimum)', async (t) => {
  const { out, summary } = await probeChild({ STREAMLINE_IO_TEST_KERNEL_RELEASE: '5.10.250-generic' })
  t.is(out.fatal, undefined, summary)
  t.is(out.backend, 'standard', summary)
  t.regex(String(out.fallbackReason), /5\.11/, summary)
})

test('io_uring: test hook KERNEL_RELEASE=5.11.0 → io_uring (the minimum itself is enough)', async (t) => {
  const { out, summary } = await probeChild({ STREAMLINE_IO_TEST_KERNEL_RELEASE: '5.11.0' })
  t.is(out.fatal, undefined, summary)
  if (!expectUring) {
    t.pass('io_uring not expected on this machine')
    return
  }
  t.is(out.backend, 'io_uring', summary)
  t.is(out.fallbackReason, null)
})

test('io_uring: KERNEL_RELEASE hook does not affect enableIoUring false: the reason is still the config', async (t) => {
  const { out, summary } = await probeChild({ STREAMLINE_IO_TEST_KERNEL_RELEASE: '5.4.0' }, { config: { enableIoUring: false } })
  t.is(out.backend, 'standard', summary)
  t.regex(String(out.fallbackReason), /config|enableIoUring|STREAMLINE_IO_URING|enable-io-uring/i, summary)
})

for (const n of [1, 25, 400]) {
  test(`io_uring: test hook RING_FAIL_AFTER=${n} → every operation still succeeds, verified, degraded to the standard path and counted`, async (t) => {
    const dir = tmpDir(t)
    const { out, summary } = await probeChild({ STREAMLINE_IO_TEST_RING_FAIL_AFTER: String(n) }, { dir, ops: 600 })
    t.is(out.fatal, undefined, summary)
    if (!expectUring) {
      t.pass('io_uring not expected on this machine')
      return
    }
    t.is(out.backend, 'io_uring', `the ring starts fine and fails later: ${summary}`)
    t.is(out.workload?.errorCount, 0, `operations failed instead of degrading: ${JSON.stringify(out.workload?.errors)}`)
    t.true(out.workload?.diskOk, 'the file holds exactly what was written')
    t.like(out.workload?.others ?? {}, {
      size: 600 * 2000,
      sizeAfterAllocate: 600 * 2000 + 4096,
      sizeAfterTruncate: 600 * 2000,
      reopenedSize: 600 * 2000,
    })
    t.true((out.degradedOps ?? 0) > 0, `degradedOps must count the degraded operations: ${out.degradedOps}`)
  })
}

test('io_uring: RING_FAIL_AFTER far beyond the workload → nothing degraded', async (t) => {
  const dir = tmpDir(t)
  const { out, summary } = await probeChild({ STREAMLINE_IO_TEST_RING_FAIL_AFTER: '100000000' }, { dir, ops: 100 })
  t.is(out.fatal, undefined, summary)
  if (!expectUring) {
    t.pass('io_uring not expected on this machine')
    return
  }
  t.is(out.workload?.errorCount, 0, JSON.stringify(out.workload?.errors))
  t.is(out.degradedOps, 0)
})

test('io_uring: a plain child picks io_uring and logs nothing by default', async (t) => {
  const { out, summary, raw } = await probeChild({})
  t.is(out.fatal, undefined, summary)
  if (expectUring) t.is(out.backend, 'io_uring', summary)
  t.is(raw.stderr, '', 'silent by default: nothing on stderr')
  t.is(raw.stdout.trim().split('\n').length, 1, 'silent by default: only the fixture writes to stdout')
  const debug = await probeChild({ NODE_DEBUG: 'streamline:io,streamline', DEBUG: 'streamline:io' })
  t.log(`with NODE_DEBUG/DEBUG=streamline:io, stderr: ${JSON.stringify(debug.raw.stderr.slice(0, 400))}`)
})

test('io_uring: test hook NO_ADDON=1 → standard, the reason names the missing addon, I/O still works, O_DIRECT is ERR_IO_DIRECT_UNAVAILABLE', async (t) => {
  const dir = tmpDir(t)
  const { out, summary } = await probeChild({ STREAMLINE_IO_TEST_NO_ADDON: '1' }, { dir, ops: 200, tryDirect: true })
  t.is(out.fatal, undefined, summary)
  t.is(out.backend, 'standard', summary)
  t.regex(String(out.fallbackReason), /addon/i, summary)
  t.is(out.workload?.errorCount, 0, JSON.stringify(out.workload?.errors))
  t.true(out.workload?.diskOk)
  t.like(out.direct?.true ?? {}, { ok: false, code: 'ERR_IO_DIRECT_UNAVAILABLE' }, `direct: true without the addon: ${JSON.stringify(out.direct)}`)
  t.like(out.direct?.prefer ?? {}, { ok: true }, `direct: 'prefer' opens without O_DIRECT: ${JSON.stringify(out.direct)}`)
})
