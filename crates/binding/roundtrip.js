// Raw-addon round trips at queue depth 1, thread vs inline engine, side by side in one
// process (BENCHMARKS.md, "Where the time goes: the thread hop"):
//   node crates/binding/roundtrip.js [dir] [ops]
// Each row: p50 and mean µs per operation over every op of ROUNDS rounds, the modes
// interleaved round by round so load on the machine hits both alike.
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const native = require(path.join(__dirname, '..', '..', `streamline-io.${process.platform}-${process.arch}-gnu.node`))

const K = { read: 1, write: 2, fdatasync: 4, nop: 10 }
const LINK = 1
const dir = process.argv[2] || os.tmpdir()
const N = Number(process.argv[3] || 20000)
const ROUNDS = 5
const OPTS = { sqDepth: 64, cqDepth: 0, queueCapacity: 256, fixedFileSlots: 64, testSetupErrno: 0, testFailAfter: 0 }

function engine (mode) {
  const pending = new Map()
  let nextId = 1
  const complete = (r) => {
    for (let i = 0; i < r.length; i += 2) {
      const resolve = pending.get(r[i])
      pending.delete(r[i])
      resolve(r[i + 1])
    }
  }
  const e = native.createEngine({ ...OPTS, mode }, complete)
  /** ops: [kind, fd, offset, len, extra, flags]; resolves the last op's result. */
  function run (ops) {
    const desc = new Float64Array(ops.length * 7)
    const extras = []
    let last
    ops.forEach(([kind, fd, offset, len, extra, flags = 0], i) => {
      const id = nextId++
      desc.set([id, kind, fd, offset, len, 0, flags], i * 7)
      extras.push(extra)
      last = new Promise((resolve) => pending.set(id, resolve))
    })
    const done = native.submit(e, desc, extras)
    if (done !== undefined) complete(done)
    return last
  }
  return { run, destroy: () => native.destroy(e) }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main () {
  const file = path.join(dir, `roundtrip-${process.pid}.dat`)
  fs.writeFileSync(file, Buffer.alloc(1 << 20, 7))
  const fd = fs.openSync(file, 'r+')
  const buf = Buffer.alloc(4096, 1)
  const engines = { thread: engine('thread'), inline: engine('inline') }
  const cases = {
    nop: { n: N, run: (io) => io.run([[K.nop, 0, 0, 0]]) },
    'read 4 KiB (cached)': { n: N, run: (io, i) => io.run([[K.read, fd, (i % 256) * 4096, 4096, buf]]) },
    'write 4 KiB + fdatasync (two submits)': {
      n: Math.max(200, N / 10),
      run: async (io, i) => { await io.run([[K.write, fd, (i % 256) * 4096, 4096, buf]]); await io.run([[K.fdatasync, fd, 0, 0]]) },
    },
    'write 4 KiB → fdatasync (linked, one submit)': {
      n: Math.max(200, N / 10),
      run: (io, i) => io.run([[K.write, fd, (i % 256) * 4096, 4096, buf, LINK], [K.fdatasync, fd, 0, 0]]),
    },
  }
  const rows = []
  for (const [name, c] of Object.entries(cases)) {
    const per = { thread: [], inline: [] }
    const sum = { thread: 0, inline: 0 }
    for (let w = 0; w < 200; w++) for (const io of Object.values(engines)) await c.run(io, w) // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      for (const [mode, io] of Object.entries(engines)) {
        const n = Math.floor(c.n / ROUNDS)
        for (let i = 0; i < n; i++) {
          const t0 = process.hrtime.bigint()
          await c.run(io, i)
          const us = Number(process.hrtime.bigint() - t0) / 1000
          per[mode].push(us)
          sum[mode] += us
        }
      }
    }
    rows.push([name, median(per.thread), median(per.inline), sum.thread / per.thread.length, sum.inline / per.inline.length])
  }
  // Synchronous reference: what the JavaScript thread pays doing it itself.
  const syncN = Math.max(200, N / 10)
  const sync = []
  for (let i = 0; i < syncN; i++) {
    const t0 = process.hrtime.bigint()
    fs.writeSync(fd, buf, 0, 4096, (i % 256) * 4096)
    fs.fdatasyncSync(fd)
    sync.push(Number(process.hrtime.bigint() - t0) / 1000)
  }
  for (const io of Object.values(engines)) io.destroy()
  fs.closeSync(fd)
  fs.rmSync(file)
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
  console.log(`dir ${dir}, ${N} ops per cached case (a tenth for the syncs), ${ROUNDS} interleaved rounds`)
  console.log('| operation (QD 1, raw addon) | thread p50 µs | inline p50 µs | thread mean µs | inline mean µs | inline/thread (p50) |')
  console.log('|---|---|---|---|---|---|')
  for (const [name, t, i, tm, im] of rows) console.log(`| ${name} | ${t.toFixed(1)} | ${i.toFixed(1)} | ${tm.toFixed(1)} | ${im.toFixed(1)} | ${(i / t).toFixed(2)}× |`)
  console.log(`| writeSync + fdatasyncSync (reference, blocking) | ${median(sync).toFixed(1)} | | ${mean(sync).toFixed(1)} | | |`)
}
main().catch((e) => { console.error(e); process.exit(1) })
