// A size-limited tmpfs for ENOSPC tests. Mounting needs root: where the suite is not
// root these tests are declared skipped (ava reports them as skipped, never as passed);
// as root a failed mount fails the test. The mount is made in the machine's mount
// namespace — machine-wide state — so only tests under __test__/machine-wide/ (which
// run alone: ava.machine-wide.config.cjs) may call mountTmpfs; it refuses elsewhere.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'

import { tmpDir } from './backends'

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

/**
 * True in the machine-wide run (ava.machine-wide.config.cjs sets it for its workers):
 * the only run allowed to change machine-wide state.
 */
export const MACHINE_WIDE_RUN = process.env.STREAMLINE_IO_TEST_MACHINE_WIDE === '1'

/** `test` as root, `test.skip` otherwise. */
export const rootTest = isRoot ? test : test.skip

/** Mounts a tmpfs of `size` (e.g. '2m') in a fresh directory; unmounted at teardown. */
export function mountTmpfs(t: ExecutionContext, size: string, label?: string): string {
  if (!MACHINE_WIDE_RUN) {
    throw new Error('mountTmpfs changes machine-wide state: call it from a test under __test__/machine-wide/ only')
  }
  const mnt = path.join(tmpDir(t, label), 'mnt')
  fs.mkdirSync(mnt)
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { stdio: 'pipe' })
  t.teardown(() => {
    try {
      execFileSync('umount', ['-l', mnt], { stdio: 'pipe' })
    } catch {
      // Already unmounted.
    }
  })
  return mnt
}
