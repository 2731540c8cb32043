// O_DIRECT from plain node:fs, for the bench's peers (W5's node-fs rows, the --limits
// O_DIRECT scan): node:fs has no aligned allocation and never says where a Buffer's
// memory is, so an aligned buffer is found the way a Node user can find one — allocate
// more than needed and try subarrays at increasing offsets until the kernel accepts a
// direct read into one (a misaligned buffer fails with EINVAL). Done once per buffer,
// before the timed loop starts. The alignment found is the device's (its DMA alignment,
// 512 bytes on this virtio disk), not necessarily a page: a 4 KiB read may then span two
// pages where the library's pool buffers span one — negligible beside a device read.
import fs from 'node:fs'

/** Larger than any direct-I/O alignment a Linux block device asks for (its logical block size). */
const MAX_ALIGN = 4096
/** Allocations are at least this aligned (malloc's 16 bytes on 64-bit Linux): the probe's step. */
const PROBE_STEP = 16

/**
 * A `bytes`-long subarray of a fresh Buffer that `fd` (opened with O_DIRECT) accepts for
 * direct reads. The probe reads at offset 0 of the file, so the file must not be empty: a
 * read at end-of-file returns 0 before the kernel looks at the buffer's alignment.
 */
export function alignedBuffer(fd: number, bytes: number): Buffer {
  if (fs.fstatSync(fd).size === 0) throw new Error('cannot find an aligned buffer with an empty file: an O_DIRECT read at end-of-file checks no alignment')
  // Room for the probe's read at every offset, and for `bytes` at the one that works.
  const backing = Buffer.allocUnsafeSlow(Math.max(bytes, MAX_ALIGN) + MAX_ALIGN)
  let last: NodeJS.ErrnoException | undefined
  for (let off = 0; off < MAX_ALIGN; off += PROBE_STEP) {
    try {
      fs.readSync(fd, backing, off, MAX_ALIGN, 0)
      return backing.subarray(off, off + bytes)
    } catch (err) {
      last = err as NodeJS.ErrnoException
      if (last.code !== 'EINVAL') throw err
    }
  }
  throw new Error(`no offset of a ${backing.length}-byte Buffer was accepted for an O_DIRECT read (last error ${last?.code ?? 'none'})`)
}

/**
 * Throws unless `fd` has O_DIRECT set (/proc/self/fdinfo's flags, octal): the peer can never
 * run buffered by a wrong flag on the way. (A file system that accepts O_DIRECT and serves
 * it from the page cache, tmpfs, still passes: the bench warns about tmpfs.)
 */
export function requireDirect(fd: number, file: string): void {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
  const m = /^flags:\s+([0-7]+)$/m.exec(info)
  if (m === null) throw new Error(`cannot read the flags of ${file} from /proc/self/fdinfo/${fd}`)
  if ((parseInt(m[1], 8) & fs.constants.O_DIRECT) === 0) throw new Error(`${file} was opened with O_DIRECT but its descriptor does not have it (the file system ignored the flag)`)
}
