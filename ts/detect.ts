// Chooses the backend (DESIGN.md §4 "Detection"): io_uring when configured, the kernel
// is >= 5.11, a real ring can be set up and the probe reports every opcode we use;
// otherwise the standard backend, with the cause named from evidence — the sysctl's
// value, the seccomp mode in /proc/self/status, the errno — not from errno alone.
import fs from 'node:fs'
import os from 'node:os'
import type { EnvSettings } from './config'
import { errnoName } from './errors'
import type { AddonLoad, NativeAddon } from './native'
import type { IoConfig, KernelInfo } from './types'

/** io_uring as we use it needs 5.11 (unprivileged SQPOLL aside, the opcode set we probe and a stable CQSIZE/NODROP). */
export const MIN_KERNEL: readonly [number, number] = [5, 11]
const PROBE_ENTRIES = 8

export interface Detection {
  backend: 'io_uring' | 'standard'
  reason: string | null
  kernel: KernelInfo
  addon: NativeAddon | null
}

/** The test hooks detection honours (README "Test hooks"), as ts/config.ts resolved them. */
export type DetectHooks = Pick<EnvSettings, 'testSetupErrno' | 'testKernelRelease' | 'testProcStatus'>

export function parseRelease(release: string): [number, number] | null {
  const m = /^(\d+)\.(\d+)/.exec(release)
  return m ? [Number(m[1]), Number(m[2])] : null
}

function atLeast(v: [number, number], min: readonly [number, number]): boolean {
  return v[0] > min[0] || (v[0] === min[0] && v[1] >= min[1])
}

function readTrimmed(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim()
  } catch {
    return null
  }
}

function seccompMode(procStatus: string | null): number | null {
  const status = readTrimmed(procStatus ?? '/proc/self/status')
  const m = status === null ? null : /^Seccomp:\s*(\d+)/m.exec(status)
  return m ? Number(m[1]) : null
}

/**
 * Names why io_uring_setup failed, from the evidence the machine offers. `procStatus`:
 * the file read instead of /proc/self/status (STREAMLINE_IO_TEST_PROC_STATUS).
 */
export function explainSetupFailure(errno: number, procStatus: string | null = null): string {
  const code = errnoName(errno)
  const sysctl = readTrimmed('/proc/sys/kernel/io_uring_disabled')
  const seccomp = seccompMode(procStatus)
  if (code === 'EPERM' || code === 'EACCES') {
    if (sysctl === '2') return `io_uring is disabled machine-wide by the sysctl kernel.io_uring_disabled = 2 (io_uring_setup: ${code}); set it to 0 to use io_uring`
    if (sysctl === '1') return `io_uring is restricted by the sysctl kernel.io_uring_disabled = 1 to members of kernel.io_uring_group, and this process is not one (io_uring_setup: ${code})`
    if (seccomp === 2) return `a seccomp filter denies io_uring_setup (${code}; Seccomp: 2 in /proc/self/status) — container runtimes such as Docker block io_uring by default; allow io_uring_setup, io_uring_enter and io_uring_register in the profile`
    return `io_uring_setup was refused with ${code} although kernel.io_uring_disabled = ${sysctl ?? 'unknown'} and no seccomp filter is active; a security module (SELinux, AppArmor) may deny it`
  }
  if (code === 'ENOSYS') {
    if (seccomp === 2) return `a seccomp filter hides io_uring_setup (ENOSYS; Seccomp: 2 in /proc/self/status); allow io_uring_setup, io_uring_enter and io_uring_register in the profile`
    return 'the kernel has no io_uring (io_uring_setup: ENOSYS; built without CONFIG_IO_URING)'
  }
  if (code === 'ENOMEM') {
    return 'not enough memory to set up a ring (io_uring_setup: ENOMEM): a memory limit (RLIMIT_MEMLOCK, `ulimit -l`, or a cgroup memory limit) is too low; raise it or lower sqDepth/queueDepth'
  }
  if (code === 'EMFILE' || code === 'ENFILE') return `no file descriptor left for a ring (io_uring_setup: ${code}); raise the open-file limit`
  return `io_uring_setup failed with ${code}`
}

function kernelRelease(addon: NativeAddon | null, hooks: DetectHooks): string {
  return hooks.testKernelRelease ?? (addon ? addon.kernelRelease() : os.release())
}

/** `load`: the addon as ts/config.ts resolved it (absent under STREAMLINE_IO_TEST_NO_ADDON). */
export function detect(config: IoConfig, load: AddonLoad, hooks: DetectHooks): Detection {
  const addon = load.addon
  const release = process.platform === 'linux' ? kernelRelease(addon, hooks) : os.release()
  const kernel: KernelInfo = { release, ioUring: false, opcodes: [], features: [], ring: null }
  // Probe even when io_uring is disabled by configuration, so io.kernel still tells
  // what the kernel offers.
  const unavailable = probeKernel(load, release, kernel, hooks)
  const reason = !config.enableIoUring ? 'io_uring is disabled by configuration (enableIoUring = false)' : unavailable
  return { backend: reason === null ? 'io_uring' : 'standard', reason, kernel, addon }
}

/** Fills `kernel` with what the probe saw; returns why io_uring cannot be used, or null. */
function probeKernel(load: AddonLoad, release: string, kernel: KernelInfo, hooks: DetectHooks): string | null {
  if (process.platform !== 'linux') return `io_uring is Linux-only (this is ${process.platform})`
  if (load.addon === null) return load.reason
  const addon = load.addon
  const version = parseRelease(release)
  if (version === null || !atLeast(version, MIN_KERNEL)) {
    return `kernel ${release} is older than ${MIN_KERNEL.join('.')}, the first release with the io_uring features this library needs`
  }
  const probe = addon.probe(PROBE_ENTRIES, hooks.testSetupErrno)
  if (!probe.ok) return probe.reason ?? explainSetupFailure(probe.errno, hooks.testProcStatus)
  kernel.ioUring = true
  kernel.opcodes = probe.opcodes
  kernel.features = probe.features
  if (probe.missing.length > 0) return `the kernel's io_uring lacks opcodes this library needs: ${probe.missing.join(', ')}`
  return null
}
