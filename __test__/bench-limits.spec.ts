// The pieces of `bench --limits` and of W5's node:fs peer that can be checked without
// timing anything: the aligned buffer node:fs code finds for O_DIRECT (and that the
// kernel really refuses a misaligned one here, so the probe is what makes it work), the
// O_DIRECT check on a descriptor, which floors each workload needs, and the ratio to the
// best floor. The whole command is run in cli-bench.spec.ts.

import fs from 'node:fs'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'

import { alignedBuffer, requireDirect } from '../ts/cli/bench/aligned'
import { type Floor, type FloorId, FLOOR_IDS, floorsFor, vsFloor, workloadsOf } from '../ts/cli/bench/limits'
import { WORKLOADS } from '../ts/cli/bench/workloads'
import { tmpDir } from './helpers/backends'

/** A file of `bytes` whose every 4 KiB block starts with its own index, on the test's disk. */
function blockFile(dir: string, bytes: number): string {
  const file = path.join(dir, 'blocks.dat')
  const b = Buffer.alloc(bytes)
  for (let i = 0; i < bytes / 4096; i++) b.writeUInt32LE(i + 1, i * 4096)
  fs.writeFileSync(file, b)
  return file
}

/**
 * Whether a direct read into `buf` shifted by 16 bytes is refused with EINVAL. Devices
 * that need 512-byte alignment (this virtio disk, SATA) refuse it; NVMe (4-byte DMA
 * alignment, Linux 6.0+) and tmpfs (6.6+) accept it — there the probe's first try is the
 * answer, and the test says so instead of asserting a refusal the device never makes.
 */
function refusesShifted(t: ExecutionContext, fd: number, buf: Buffer): boolean {
  try {
    fs.readSync(fd, Buffer.from(buf.buffer, buf.byteOffset + 16, 4096), 0, 4096, 0)
  } catch (err) {
    t.is((err as NodeJS.ErrnoException).code, 'EINVAL')
    return true
  }
  t.log('this file system accepts direct reads into 16-byte-aligned memory: no refusal to check')
  return false
}

/** True where the test directory's block device asks for more than 16-byte alignment of direct-I/O memory (this one: 512): the refusal is then asserted. */
function expectsRefusal(dir: string): boolean {
  const dev = fs.statSync(dir).dev
  const sys = `/sys/dev/block/${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`
  try {
    // A partition's queue is its disk's.
    const queue = fs.existsSync(`${sys}/queue`) ? `${sys}/queue` : `${sys}/../queue`
    // dma_alignment is a mask (511: 512-byte alignment); a 16-byte shift breaks any mask above 15.
    return Number(fs.readFileSync(`${queue}/dma_alignment`, 'utf8')) > 15
  } catch {
    return false
  }
}

test('alignedBuffer: node:fs reads into it with O_DIRECT; where the device asks for it, the same memory 16 bytes further is refused', (t) => {
  const dir = tmpDir(t)
  const file = blockFile(dir, 64 * 4096)
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECT)
  t.teardown(() => fs.closeSync(fd))
  requireDirect(fd, file)
  for (const bytes of [4096, 65536, 1 << 20]) {
    const buf = alignedBuffer(fd, bytes)
    t.is(buf.length, bytes)
    const n = fs.readSync(fd, buf, 0, Math.min(bytes, 16 * 4096), 8 * 4096)
    t.is(n, Math.min(bytes, 16 * 4096))
    t.is(buf.readUInt32LE(0), 9, `${bytes}: block 8 read at the buffer's start`)
    // The backing store has room past the aligned start: the same memory 16 bytes on.
    const refused = refusesShifted(t, fd, buf)
    if (expectsRefusal(dir)) t.true(refused, `${bytes}: a misaligned buffer is refused here (so the probe is needed)`)
  }
})

test('alignedBuffer with a file shorter than a block works, refuses an empty one; requireDirect refuses a descriptor without O_DIRECT', (t) => {
  const dir = tmpDir(t)
  const small = path.join(dir, 'small.dat')
  fs.writeFileSync(small, Buffer.alloc(100, 7))
  const fd = fs.openSync(small, fs.constants.O_RDONLY | fs.constants.O_DIRECT)
  t.teardown(() => fs.closeSync(fd))
  // A short read still checks the buffer: the one found reads the 100 bytes.
  const buf = alignedBuffer(fd, 4096)
  t.is(fs.readSync(fd, buf, 0, 4096, 0), 100)
  t.is(buf[99], 7)
  if (expectsRefusal(dir)) t.true(refusesShifted(t, fd, buf))
  const empty = path.join(dir, 'empty.dat')
  fs.writeFileSync(empty, '')
  const efd = fs.openSync(empty, fs.constants.O_RDONLY | fs.constants.O_DIRECT)
  t.teardown(() => fs.closeSync(efd))
  t.throws(() => alignedBuffer(efd, 4096), { message: /empty file/ })
  const plain = fs.openSync(small, 'r')
  t.teardown(() => fs.closeSync(plain))
  t.throws(() => requireDirect(plain, small), { message: /small\.dat was opened with O_DIRECT but its descriptor does not have it/ })
})

test('floorsFor: each workload its floors (fio W1 beside W1 for reference), none for the partition-log and zero-copy workloads', (t) => {
  t.deepEqual(floorsFor(['W1']), ['sync-4k-overwrite', 'fio-W1'])
  t.deepEqual(floorsFor(['W1r', 'W2']), ['sync-4k-append', 'sync-64k-overwrite'])
  t.deepEqual(floorsFor(['W3', 'W4']), ['fio-W3'])
  t.deepEqual(floorsFor(['W6', 'W5']), ['read-buffered', 'read-direct', 'fio-W5', 'fio-W6'])
  t.deepEqual(floorsFor(['W7P', 'W7W', 'W7C', 'Z1', 'Z1C']), [])
  // Every floor belongs to some workload.
  t.deepEqual(floorsFor(WORKLOADS), [...FLOOR_IDS])
  t.deepEqual(workloadsOf('fio-W3', ['W3', 'W4', 'W5']), ['W3', 'W4'])
  t.deepEqual(workloadsOf('fio-W1', ['W1']), ['W1 (reference)'])
})

test('vsFloor: over the best floor measured for the workload; W2 per 64 records; null without one', (t) => {
  const floor = (id: FloorId, rate: number | null): Floor => ({ id, title: id, unit: 'ops/s', rate, p50Us: null, p99Us: null, ...(rate === null ? { skipped: 'fio not installed' } : {}) })
  const floors = [floor('sync-4k-overwrite', 8000), floor('sync-64k-overwrite', 3000), floor('read-buffered', 1500), floor('read-direct', 2000), floor('fio-W6', null), floor('fio-W1', 20000)]
  // W1 against the sync loop only: fio's W1 job is a reference, not the floor.
  t.deepEqual(vsFloor('W1', 6000, floors), { ratio: 0.75, floor: 'sync-4k-overwrite' })
  t.deepEqual(vsFloor('W2', 96000, floors), { ratio: 0.5, floor: 'sync-64k-overwrite' })
  // W6: the best of the floors that ran (fio's did not).
  t.deepEqual(vsFloor('W6', 1900, floors), { ratio: 0.95, floor: 'read-direct' })
  t.is(vsFloor('W3', 1000, floors), null, 'fio-W3 not measured')
  t.is(vsFloor('W7P', 1000, floors), null, 'no floor for W7P')
  t.is(vsFloor('W1', 1000, [floor('sync-4k-overwrite', null)]), null, 'its floor skipped')
})
