// sendfile(2) to a socket through the addon's helpers (docs/design/zero-copy.md §4): the
// standard backend's zero-copy path, and the io_uring backend's when its rings cannot
// splice or one failed. The thread pool never waits for a reader: the socket is
// O_NONBLOCK, so a full socket answers EAGAIN and the wait happens on the event loop (a
// one-shot uv_poll on our dup, never on Node's own fd, which libuv already watches).
import { socketGone, systemError } from '../errors'
import type { NativeAddon, PollHandle } from '../native'
import type { SendControl } from './backend'

/** The addon's sendfile helpers (ARCHITECTURE §2), present on every Linux build that has them. */
export interface SendfileHelpers {
  dupFd(fd: number): number
  closeFd(fd: number): number
  sendfile(outFd: number, inFd: number, offset: number, len: number): Promise<Float64Array>
  pollWritable(fd: number, cb: () => void): PollHandle
  pollClose(handle: PollHandle): void
}

/** The addon's sendfile helpers, or null when it lacks one of them (an older build) or this is not Linux. */
export function sendfileHelpers(addon: NativeAddon | null): SendfileHelpers | null {
  if (addon === null || process.platform !== 'linux') return null
  const { dupFd, closeFd, sendfile, pollWritable, pollClose } = addon
  if (typeof dupFd !== 'function' || typeof closeFd !== 'function' || typeof sendfile !== 'function' || typeof pollWritable !== 'function' || typeof pollClose !== 'function') return null
  return addon as SendfileHelpers
}

const EAGAIN = 11

/**
 * The socket's descriptor now (Backend.sendFile's getter), or ERR_SOCKET_CLOSED when it
 * has none any more. Called in the same synchronous run that dups it.
 */
export function descriptorNow(socketFd: () => number | null): number {
  const fd = socketFd()
  if (fd === null) throw socketGone()
  return fd
}

/**
 * The most one sendfile task is asked to move. The binding caps a task at 16 MiB
 * (SENDFILE_TASK_BYTES) so that no pool thread is held long; asking no more than that
 * makes "fewer bytes than asked with errno 0" mean end of file.
 */
export const SENDFILE_TASK_BYTES = 16 * 1024 * 1024

/**
 * Sends [position, position + length) of `file` to the socket `sockFd`; resolves the bytes
 * that reached it (fewer only at end of file or after control.cancel()). The socket is
 * dup'd synchronously, before the first await — the caller read `sockFd` in this same run
 * and Node may close (and reuse) it later — and every syscall uses the dup, which is closed
 * in `finally` after the last task settled. Errors are node:fs-shaped, syscall 'sendfile'
 * and the file's path.
 */
export async function sendfileRange(
  addon: SendfileHelpers,
  file: { fd: number; path: string },
  sockFd: number,
  position: number,
  length: number,
  control: SendControl,
  counters: { writableWaits: number },
): Promise<number> {
  const dup = addon.dupFd(sockFd)
  if (dup < 0) throw systemError(-dup, 'dup', file.path)
  let cancelled = false
  let poll: PollHandle | null = null
  let wake: (() => void) | null = null
  control.cancel = () => {
    cancelled = true
    if (poll !== null) {
      // Stopped before it fired: its callback never runs, so wake the wait ourselves.
      addon.pollClose(poll)
      poll = null
      const w = wake
      wake = null
      w?.()
    }
  }
  let sent = 0
  try {
    while (sent < length && !cancelled) {
      const asked = Math.min(length - sent, SENDFILE_TASK_BYTES)
      const r = await addon.sendfile(dup, file.fd, position + sent, asked)
      const n = r[0]
      const errno = r[1]
      sent += n
      if (errno === 0) {
        if (n < asked) break // end of file
      } else if (errno === EAGAIN) {
        if (cancelled) break
        counters.writableWaits++
        await new Promise<void>((resolve) => {
          wake = resolve
          poll = addon.pollWritable(dup, () => {
            poll = null
            wake = null
            resolve()
          })
        })
      } else {
        throw systemError(errno, 'sendfile', file.path)
      }
    }
    return sent
  } finally {
    control.cancel = null
    if (poll !== null) addon.pollClose(poll)
    addon.closeFd(dup)
  }
}
