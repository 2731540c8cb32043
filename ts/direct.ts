// O_DIRECT opens and their alignment rules (issue 3). The kernel refuses misaligned
// direct I/O with a bare EINVAL; checking before submitting turns that into an error
// that says what is misaligned (ERR_IO_ALIGNMENT), on both backends alike.
import type { BackendFile } from './backends/backend'
import { misaligned } from './errors'
import type { NativeAddon } from './native'

/** Alignment of an O_DIRECT file: buffer addresses to `mem`, offsets and lengths to `offset`. */
export interface DirectAlignment {
  mem: number
  offset: number
  addressOf(buf: Uint8Array): number
}

/**
 * What a file system that does not report its direct-I/O alignment (statx DIOALIGN,
 * Linux 6.1; tmpfs leaves it out) gets: a page, which satisfies every block size up
 * to 4 KiB — pool buffers always qualify.
 */
const UNREPORTED_ALIGNMENT = 4096
const EINVAL = 22

export type DirectOpen =
  | { ok: true; handle: BackendFile; alignment: DirectAlignment }
  | { ok: false; why: string }

/**
 * Opens with O_DIRECT (through `open`) and learns the alignment the file system wants.
 * A refusal — EINVAL from open, or statx saying the file cannot do direct I/O — is
 * `{ ok: false }`; any other open error (ENOENT, EACCES, …) is thrown as it is.
 */
export async function openDirect(addon: NativeAddon, open: () => Promise<BackendFile>, close: (h: BackendFile) => Promise<void>): Promise<DirectOpen> {
  let handle: BackendFile
  try {
    handle = await open()
  } catch (err) {
    if ((err as { errno?: number }).errno === EINVAL || (err as { code?: string }).code === 'EINVAL') return { ok: false, why: 'open with O_DIRECT: EINVAL' }
    throw err
  }
  const reported = addon.dioAlignment?.call(addon, handle.fd)
  let mem = UNREPORTED_ALIGNMENT
  let offset = UNREPORTED_ALIGNMENT
  if (reported instanceof Float64Array) {
    if (reported[0] === 0 || reported[1] === 0) {
      await close(handle).catch(() => {})
      return { ok: false, why: 'statx reports no direct I/O support for this file' }
    }
    mem = reported[0]
    offset = reported[1]
  }
  const addressOf = addon.bufferAddress
  if (addressOf === undefined) {
    await close(handle).catch(() => {})
    return { ok: false, why: 'the native addon cannot report buffer addresses (a stale build? run npm run build:native)' }
  }
  return { ok: true, handle, alignment: { mem, offset, addressOf: (buf) => addressOf.call(addon, buf) } }
}

/** Throws ERR_IO_ALIGNMENT naming the first of offset, length, address that is misaligned. */
export function checkAligned(a: DirectAlignment, buf: Uint8Array, offset: number, path: string): void {
  if (offset % a.offset !== 0) throw misaligned('offset', offset, a.offset, path)
  if (buf.byteLength % a.offset !== 0) throw misaligned('buffer length', buf.byteLength, a.offset, path)
  if (buf.byteLength === 0) return
  const address = a.addressOf(buf)
  if (address % a.mem !== 0) throw misaligned('buffer address', address, a.mem, path)
}
