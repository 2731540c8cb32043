// W8's harness (benches/w8): the cpuprofile summary that says where the broker's JS
// thread spends its time, on a synthetic profile whose shares are known, and the
// command's refusal of bad options (one clear line, exit 2, before any client install or
// broker start). The benchmark itself needs librdkafka for Python and minutes of quiet
// machine, so it is run by hand (BENCHMARKS.md), not here.
import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { partOf, summarizeProfile } from '../benches/w8/cpu-profile'
import { tmpDir } from './helpers/backends'
import { cleanEnv, runNode, summary } from './helpers/child'

const MAIN = path.join(__dirname, '..', 'benches', 'w8', 'main.js')

const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber, scriptId: '0', columnNumber: 0 })

test('partOf puts frames in the broker part they come from', (t) => {
  t.is(partOf(frame('readInt32', 'file:///r/dist/examples/kafka-broker/protocol/reader.js')), 'broker: protocol codec')
  t.is(partOf(frame('handle', 'file:///r/dist/examples/kafka-broker/apis/produce.js')), 'broker: API handlers')
  t.is(partOf(frame('pump', 'file:///r/dist/examples/kafka-broker/connection.js')), 'broker: connections, frames, groups')
  t.is(partOf(frame('writeGroup', 'file:///r/dist/ts/log/writer.js')), 'library: partition log')
  t.is(partOf(frame('send', 'file:///r/dist/ts/backends/native.js')), 'library: Io, backends, metrics')
  t.is(partOf(frame('concat', 'node:buffer')), 'Node core JS: net, streams, buffer, promises')
  t.is(partOf(frame('writeBuffer', '')), 'native calls (addon, Node bindings, builtins)')
  t.is(partOf(frame('(garbage collector)', '')), 'GC')
  t.is(partOf(frame('(idle)', '')), 'idle')
})

test('summarizeProfile sums self time per part and per function; shares leave idle out', (t) => {
  const dir = tmpDir(t)
  const file = path.join(dir, 'p.cpuprofile')
  const nodes = [
    { id: 1, callFrame: frame('(root)', ''), children: [2, 3, 4] },
    { id: 2, callFrame: frame('(idle)', '') },
    { id: 3, callFrame: frame('encode', 'file:///r/dist/examples/kafka-broker/protocol/writer.js', 9) },
    { id: 4, callFrame: frame('writeGroup', 'file:///r/dist/ts/log/writer.js', 87) },
  ]
  // 600 µs idle, 300 µs in the codec (two samples), 100 µs in the log writer.
  const samples = [2, 3, 4, 3, 2]
  const timeDeltas = [300, 100, 100, 200, 300]
  fs.writeFileSync(file, JSON.stringify({ nodes, samples, timeDeltas, startTime: 0, endTime: 1000 }))
  const s = summarizeProfile(file)
  t.is(s.totalUs, 1000)
  const part = (name: string) => s.parts.find((p) => p.part === name)
  t.is(part('broker: protocol codec')?.us, 300)
  t.is(part('broker: protocol codec')?.share, 0.75)
  t.is(part('library: partition log')?.share, 0.25)
  t.is(part('idle')?.share, 0.6, 'idle is a share of all samples')
  t.deepEqual(
    s.top.map((f) => [f.fn, f.us]),
    [
      ['encode examples/kafka-broker/protocol/writer.js:10', 300],
      ['writeGroup ts/log/writer.js:88', 100],
    ],
  )
})

for (const [args, message] of [
  [['--runs', '0'], /--runs takes a whole number in 1\.\.20, got "0"/],
  [['--backend', 'uring'], /--backend takes a list of io_uring, standard; got "uring"/],
  [['--messages'], /--messages takes a whole number/],
  [['--client', 'kafkajs'], /--client takes a list of confluent-kafka, kcat; got "kafkajs"/],
  [['--frobnicate'], /unknown option "--frobnicate"/],
] as const) {
  test(`bench:broker ${args.join(' ')} is refused with a clear line and exit 2`, async (t) => {
    const r = await runNode([MAIN, ...args], { env: cleanEnv(), timeoutMs: 30_000 })
    t.is(r.code, 2, summary(r))
    t.regex(r.stderr.split('\n')[0], message)
    t.regex(r.stderr, /usage: npm run bench:broker/)
    t.is(r.stdout, '')
  })
}
