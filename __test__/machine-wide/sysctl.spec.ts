// Machine-wide: kernel.io_uring_disabled changes io_uring for every process on the
// machine, so this file runs alone, after the rest of the suite
// (`npm run test:machine-wide`, i.e. `ava --config ava.machine-wide.config.cjs`). It restores the sysctl at its start
// (a previous run may have died with it set) and after every test, also on failure.

import fs from 'node:fs'
import test from 'ava'

import { tmpDir } from '../helpers/backends'
import { probeChild } from '../helpers/probe'

const SYSCTL = '/proc/sys/kernel/io_uring_disabled'

function readSysctl(): string | null {
  try {
    return fs.readFileSync(SYSCTL, 'utf8').trim()
  } catch {
    return null
  }
}

function writeSysctl(value: string): string | null {
  try {
    fs.writeFileSync(SYSCTL, `${value}\n`)
    return null
  } catch (e) {
    return String((e as Error).message)
  }
}

// Recorded before anything else; a non-zero value is taken as a previous run's leftover.
const original = readSysctl()
let cannotWrite: string | null = null
if (original === null) cannotWrite = `${SYSCTL} does not exist on this kernel`
else {
  const restored = writeSysctl('0')
  if (restored !== null) cannotWrite = `${SYSCTL} cannot be written: ${restored}`
}
const baseline = readSysctl() ?? '0'

test.after.always('restore kernel.io_uring_disabled', () => {
  if (cannotWrite === null) writeSysctl(baseline)
})

async function withSysctl<T>(value: string, fn: () => Promise<T>): Promise<T> {
  const err = writeSysctl(value)
  if (err !== null) throw new Error(`could not set ${SYSCTL} to ${value}: ${err}`)
  try {
    return await fn()
  } finally {
    writeSysctl(baseline)
  }
}

const sysTest = cannotWrite === null ? test.serial : test.serial.skip

if (cannotWrite !== null) {
  // Reported by ava as skipped (never as passed), with the reason in the title.
  test.serial.skip(`machine-wide sysctl tests: ${cannotWrite} (original value ${String(original)})`, () => {})
}

sysTest('the suite starts with kernel.io_uring_disabled = 0 (restored if a previous run left it set)', (t) => {
  t.log(`original value at file start: ${String(original)}`)
  t.is(readSysctl(), '0')
})

sysTest('kernel.io_uring_disabled = 2 → a child opens an Io on the standard backend, and the reason names the sysctl', async (t) => {
  const dir = tmpDir(t)
  const { out, summary } = await withSysctl('2', () => probeChild({}, { dir, ops: 100 }))
  t.is(readSysctl(), baseline, 'restored')
  t.is(out.fatal, undefined, summary)
  t.is(out.backend, 'standard', summary)
  t.regex(String(out.fallbackReason), /io_uring_disabled/, summary)
  t.notRegex(String(out.fallbackReason), /seccomp/i, 'seccomp is not the cause here')
  t.is(out.workload?.errorCount, 0, JSON.stringify(out.workload?.errors))
  t.true(out.workload?.diskOk)
})

sysTest('kernel.io_uring_disabled = 1 → root keeps io_uring; an unprivileged child falls back naming the sysctl', async (t) => {
  const dir = tmpDir(t)
  fs.chmodSync(dir, 0o777)
  const [root, nobody] = await withSysctl('1', async () => [
    await probeChild({}, {}),
    await probeChild({}, { dropToNobody: true, dir, ops: 50 }),
  ])
  t.is(readSysctl(), baseline, 'restored')
  t.is(root.out.fatal, undefined, root.summary)
  t.is(root.out.backend, 'io_uring', `root (CAP_SYS_ADMIN) may still create rings with the sysctl at 1: ${root.summary}`)
  t.is(nobody.out.fatal, undefined, nobody.summary)
  t.is(nobody.out.backend, 'standard', nobody.summary)
  t.regex(String(nobody.out.fallbackReason), /io_uring_disabled/, nobody.summary)
  t.is(nobody.out.workload?.errorCount, 0, JSON.stringify(nobody.out.workload?.errors))
})

sysTest('after restoring kernel.io_uring_disabled = 0 a child gets io_uring again', async (t) => {
  t.is(readSysctl(), '0')
  const { out, summary } = await probeChild({})
  t.is(out.backend, 'io_uring', summary)
  t.is(out.fallbackReason, null)
})
