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

test('bench:broker --render prints medians of the runs and the ratio to the standard backend', async (t) => {
  const dir = tmpDir(t)
  const phase = (messagesPerSec: number, p99?: number) => ({
    messages: 1000,
    seconds: 1000 / messagesPerSec,
    messagesPerSec,
    mbPerSec: (messagesPerSec * 1024) / 1e6,
    clientCpuSeconds: 0.001,
    brokerCpuSeconds: 0.002,
    ...(p99 === undefined ? {} : { latencyMs: { p50: p99 / 2, p99, p999: p99, max: p99 } }),
  })
  const run = (backend: string, via: string, run: number, produce: number, consume: number, p99?: number) => ({
    backend,
    via,
    run,
    client: via === 'kcat' ? 'kcat 1.7.1 (librdkafka 2.0.2)' : 'confluent-kafka 2.16.1 (librdkafka 2.16.0)',
    produce: phase(produce, p99),
    consume: phase(consume),
    broker: { requests: { Produce: 10 }, requestSeconds: { Produce: 0.05 }, ioOps: {}, bytesOnDisk: 0 },
  })
  const report = {
    options: { messages: 1000, size: 1024, runs: 3, backends: ['io_uring', 'standard'], clients: ['confluent-kafka', 'kcat'], rate: 0 },
    results: [
      run('io_uring', 'confluent-kafka', 1, 300, 900, 30),
      run('standard', 'confluent-kafka', 1, 200, 1000, 40),
      run('io_uring', 'confluent-kafka', 2, 100, 800, 10),
      run('standard', 'confluent-kafka', 2, 100, 1200, 20),
      run('io_uring', 'confluent-kafka', 3, 200, 700, 20),
      run('standard', 'confluent-kafka', 3, 150, 1100, 60),
      run('io_uring', 'kcat', 1, 500, 2000),
      run('standard', 'kcat', 1, 250, 2000),
    ],
  }
  const file = path.join(dir, 'w8.json')
  fs.writeFileSync(file, JSON.stringify(report))
  const r = await runNode([MAIN, '--render', file], { env: cleanEnv(), timeoutMs: 30_000 })
  t.is(r.code, 0, summary(r))
  const rows = r.stdout.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| client'))
  t.is(rows.length, 4, r.stdout)
  const cells = (i: number) => rows[i].split('|').map((c) => c.trim())
  // io_uring, confluent-kafka: runs 300/100/200 → median 200; standard's median 150 → 1.33×.
  t.deepEqual(cells(0).slice(1, 7), ['confluent-kafka 2.16.1 (librdkafka 2.16.0)', 'io_uring', '300 / 100 / 200', '**200**', '1.33×', '10.0 / 20.0'])
  t.deepEqual(cells(0).slice(9, 12), ['900 / 800 / 700', '**800**', '0.73×'])
  t.deepEqual(cells(1).slice(2, 7), ['standard', '200 / 100 / 150', '**150**', '1.00×', '20.0 / 40.0'])
  // kcat reports no latency; one run each.
  t.deepEqual(cells(2).slice(1, 7), ['kcat 1.7.1 (librdkafka 2.0.2)', 'io_uring', '500', '**500**', '2.00×', 'n/a'])
  t.regex(r.stdout, /medians of 3/)
})
