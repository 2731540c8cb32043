// Thread vs inline engine through the public API, side by side in one process, with
// node:fs in the same run: W1 (4 KiB write + fdatasync, one writer) and W3 (random 4 KiB
// cached reads, 32 in flight, a promise each), as benches/quick.ts runs them. Targets
// take turns in short slices (SLICE_MS) so load from elsewhere hits all of them alike.
//   npm run build && node crates/binding/modes.js [dir] [seconds per target per workload]
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { openIo } = require('../../dist/ts/index.js')

const KiB = 1024
const SLICE_MS = 250
const dir = fs.mkdtempSync(path.join(process.argv[2] || os.tmpdir(), 'streamline-modes-'))
const seconds = Number(process.argv[3] || 3)

async function ioTarget (mode) {
  process.env.STREAMLINE_IO_ENGINE = mode
  const io = await openIo({ enableIoUring: true })
  if (io.backend !== 'io_uring') throw new Error(`io_uring unavailable: ${io.fallbackReason}`)
  return { name: `io_uring ${mode}`, open: (f, create) => (create ? io.create(f) : io.openRw(f)), done: () => io.close() }
}
const nodeFs = {
  name: 'node:fs FileHandle',
  async open (file, create) {
    const fh = await fs.promises.open(file, create ? 'w+' : 'r+')
    return { readAt: (b, p) => fh.read(b, 0, b.length, p), writeAt: (b, p) => fh.write(b, 0, b.length, p), syncData: () => fh.datasync(), close: () => fh.close() }
  },
  done: async () => {},
}

async function w1Slice (f, st, end) {
  const buf = Buffer.alloc(4 * KiB, 0x5a)
  while (performance.now() < end) {
    const t0 = performance.now()
    await f.writeAt(buf, st.pos)
    await f.syncData()
    st.lat.push((performance.now() - t0) * 1000)
    st.pos += buf.length
  }
}
async function w3Slice (f, st, end, blocks) {
  const worker = async () => {
    const buf = Buffer.alloc(4 * KiB)
    while (performance.now() < end) {
      const t0 = performance.now()
      await f.readAt(buf, Math.floor(Math.random() * blocks) * 4 * KiB)
      st.lat.push((performance.now() - t0) * 1000)
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker))
}

const pct = (xs, p) => { const s = Float64Array.from(xs).sort(); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] }

async function main () {
  const dataBytes = 64 * 1024 * KiB
  const data = path.join(dir, 'data.bin')
  fs.writeFileSync(data, Buffer.alloc(dataBytes, 1))
  fs.readFileSync(data)
  const targets = [nodeFs, await ioTarget('thread'), await ioTarget('inline')]
  const rows = []
  for (const [wl, slice, file, create] of [
    ['W1 4K write+fdatasync', w1Slice, null, true],
    ['W3 4K rand read QD32', w3Slice, data, false],
  ]) {
    const files = []
    const st = []
    for (const [i, t] of targets.entries()) {
      files.push(await t.open(file ?? path.join(dir, `w1-${i}.wal`), create))
      st.push({ lat: [], pos: 0, time: 0 })
    }
    for (let left = seconds * 1000; left > 0; left -= SLICE_MS) {
      for (let i = 0; i < targets.length; i++) {
        const t0 = performance.now()
        await slice(files[i], st[i], t0 + Math.min(SLICE_MS, left), dataBytes / (4 * KiB))
        st[i].time += performance.now() - t0
      }
    }
    for (const f of files) await f.close()
    const base = st[0].lat.length / st[0].time
    targets.forEach((t, i) => {
      const rate = st[i].lat.length / st[i].time * 1000
      rows.push([wl, t.name, Math.round(rate), pct(st[i].lat, 50).toFixed(1), pct(st[i].lat, 99).toFixed(1), (st[i].lat.length / st[i].time / base).toFixed(2)])
    })
  }
  for (const t of targets) await t.done()
  fs.rmSync(dir, { recursive: true, force: true })
  console.log('| workload | target | ops/s | p50 µs | p99 µs | vs node:fs |')
  console.log('|---|---|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
}
main().catch((e) => { console.error(e); process.exit(1) })
