// The native layer's bounds in ts/config.ts (issue 10): queueDepth, sqDepth (and the CQ
// they ask for together) and the pool's size classes are checked against the addon's
// protocol().limits — or, with no addon, the documented FALLBACK_LIMITS, the same
// numbers — on both backends and both engines alike. At a bound openIo opens (io_uring
// stays io_uring); one past it openIo rejects with ERR_IO_CONFIG naming the setting, its
// source and the bound, never a silent fallback to 'standard' over an option the user
// never set (the old "options.cqDepth must be … <= 65536; received 131072").

import fs from 'node:fs'
import path from 'node:path'
import test, { type ExecutionContext } from 'ava'

import { ConfigError, cqEntriesFor, loadConfig, resolveConfig } from '../ts/config'
import { openIo } from '../ts/index'
import { FALLBACK_LIMITS, limitsOf, loadAddon } from '../ts/native'
import type { IoConfig } from '../ts/types'
import { backendConfig, backends, openBackend, tmpDir } from './helpers/backends'

function limits() {
  const load = loadAddon()
  if (load.addon === null) throw new Error(`the native addon is missing: ${load.reason}`)
  return limitsOf(load).values
}

/** Runs `fn` with process.env changed as given (undefined removes); serial tests only. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  try {
    return await fn()
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

async function roundTrip(t: ExecutionContext, io: Awaited<ReturnType<typeof openIo>>): Promise<void> {
  const file = path.join(tmpDir(t), 'f')
  const f = await io.create(file)
  await f.writeAt(Buffer.from('bounded'), 0)
  const { bytesRead, buffer } = await f.readAt(Buffer.alloc(7), 0)
  t.is(buffer.subarray(0, bytesRead).toString(), 'bounded')
  await f.close()
  t.is(fs.readFileSync(file, 'utf8'), 'bounded')
}

interface Past {
  key: 'queueDepth' | 'sqDepth'
  value: number
  bound: 'maxQueueCapacity' | 'maxSqDepth'
  words: string
}

const past = (): Past[] => {
  const l = limits()
  return [
    { key: 'queueDepth', value: l.maxQueueCapacity + 1, bound: 'maxQueueCapacity', words: `an integer from 1 to ${l.maxQueueCapacity}` },
    { key: 'queueDepth', value: 100_000, bound: 'maxQueueCapacity', words: `an integer from 1 to ${l.maxQueueCapacity}` },
    { key: 'sqDepth', value: l.maxSqDepth * 2, bound: 'maxSqDepth', words: `a power of two from 1 to ${l.maxSqDepth}` },
  ]
}

const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

for (const engine of ['inline', 'thread'] as const) {
  for (const backend of backends) {
    test.serial(`${backend}, ${engine}: queueDepth and sqDepth at the addon's bounds open and work (${backend} stays ${backend})`, async (t) => {
      const l = limits()
      const io = await withEnv({ STREAMLINE_IO_ENGINE: engine }, () => openBackend(t, backend, { queueDepth: l.maxQueueCapacity, sqDepth: l.maxSqDepth }))
      t.is(io.config.queueDepth, l.maxQueueCapacity)
      t.is(io.config.sqDepth, l.maxSqDepth)
      if (io.backend === 'io_uring') {
        const ring = io.kernel.ring
        t.not(ring, null)
        t.is(ring?.engine, engine)
        t.is(ring?.engineSource, 'env')
        t.like(ring?.requested, { sqEntries: l.maxSqDepth, queueCapacity: l.maxQueueCapacity, cqEntries: cqEntriesFor(io.config) })
        t.true((ring?.requested.cqEntries ?? Infinity) <= l.maxCqEntries)
      } else {
        t.is(io.kernel.ring, null)
      }
      await roundTrip(t, io)
    })

    test.serial(`${backend}, ${engine}: one past each bound rejects with ERR_IO_CONFIG naming the setting, its source and the addon's bound`, async (t) => {
      for (const p of past()) {
        const err = await withEnv({ STREAMLINE_IO_ENGINE: engine }, () =>
          t.throwsAsync(openIo({ ...backendConfig(backend), [p.key]: p.value }), { instanceOf: ConfigError }, `${p.key} = ${p.value}`),
        )
        if (err === undefined) continue
        t.is(err.code, 'ERR_IO_CONFIG')
        t.is(err.setting, p.key)
        t.is(err.source, 'override')
        t.deepEqual(err.bound, { name: p.bound, value: limits()[p.bound], from: 'addon' })
        t.regex(err.message, new RegExp(`^${p.key}: ${p.value} from option ${p.key} must be ${re(p.words)} \\(the native addon's limit protocol\\(\\)\\.limits\\.${p.bound}\\)$`), err.message)
        t.notRegex(err.message, /cqDepth/, 'never an option the user did not set')
      }
    })
  }
}

test('the source of a value past its bound is named: environment variable, flag, option', (t) => {
  const l = limits()
  const env = t.throws(() => loadConfig({}, { STREAMLINE_IO_QUEUE_DEPTH: String(l.maxQueueCapacity + 1) }, []), { instanceOf: ConfigError })
  t.like(env, { setting: 'queueDepth', source: 'env' })
  t.regex(env?.message ?? '', new RegExp(`^queueDepth: ${l.maxQueueCapacity + 1} from environment variable STREAMLINE_IO_QUEUE_DEPTH must be an integer from 1 to ${l.maxQueueCapacity} \\(`))
  const argv = t.throws(() => loadConfig({}, {}, ['--io-uring-sq-depth', String(2 * l.maxSqDepth)]), { instanceOf: ConfigError })
  t.like(argv, { setting: 'sqDepth', source: 'argv' })
  t.regex(argv?.message ?? '', new RegExp(`^sqDepth: ${2 * l.maxSqDepth} from flag --io-uring-sq-depth must be a power of two from 1 to ${l.maxSqDepth} \\(`))
  const override = t.throws(() => loadConfig({ sqDepth: 2 * l.maxSqDepth }, { STREAMLINE_IO_SQ_DEPTH: '64' }, []), { instanceOf: ConfigError })
  t.like(override, { setting: 'sqDepth', source: 'override' })
  // At the bound, from any source.
  t.is(loadConfig({}, { STREAMLINE_IO_QUEUE_DEPTH: String(l.maxQueueCapacity) }, []).queueDepth, l.maxQueueCapacity)
  t.is(loadConfig({}, {}, ['--io-uring-sq-depth', String(l.maxSqDepth)]).sqDepth, l.maxSqDepth)
})

test('sizeClasses: a class larger than one aligned buffer (maxAlignedBytes) is refused naming the bound', (t) => {
  const l = limits()
  const err = t.throws(() => loadConfig({ sizeClasses: [4096, l.maxAlignedBytes + 512] }, {}, []), { instanceOf: ConfigError })
  t.like(err?.bound, { name: 'maxAlignedBytes', value: l.maxAlignedBytes, from: 'addon' })
  t.regex(err?.message ?? '', /^sizeClasses: \[4096, \d+\] from option sizeClasses must hold sizes of at most \d+ bytes/)
  t.deepEqual(loadConfig({ sizeClasses: [4096, l.maxAlignedBytes] }, {}, []).sizeClasses, [4096, l.maxAlignedBytes])
})

test('every setting within its bound yields a CQ within maxCqEntries (the depths together)', (t) => {
  const l = limits()
  for (const sqDepth of [1, 256, l.maxSqDepth]) {
    for (const queueDepth of [1, 1024, l.maxQueueCapacity]) {
      const c: Pick<IoConfig, 'sqDepth' | 'queueDepth'> = loadConfig({ sqDepth, queueDepth }, {}, [])
      const cq = cqEntriesFor(c)
      t.true(cq <= l.maxCqEntries && cq > queueDepth && cq >= 2 * sqDepth, `sq ${sqDepth}, queue ${queueDepth}: cq ${cq}`)
    }
  }
})

test('without the addon (STREAMLINE_IO_TEST_NO_ADDON=1) loadConfig applies the documented fallback bounds, the same numbers', (t) => {
  const noAddon = { STREAMLINE_IO_TEST_NO_ADDON: '1' }
  const r = resolveConfig({}, noAddon, [])
  t.is(r.addon.addon, null)
  t.deepEqual(r.limits, { values: FALLBACK_LIMITS, from: 'fallback' })
  t.deepEqual({ ...FALLBACK_LIMITS }, limits(), 'the fallback equals the addon’s limits')
  const err = t.throws(() => loadConfig({ queueDepth: FALLBACK_LIMITS.maxQueueCapacity + 1 }, noAddon, []), { instanceOf: ConfigError })
  t.deepEqual(err?.bound, { name: 'maxQueueCapacity', value: FALLBACK_LIMITS.maxQueueCapacity, from: 'fallback' })
  t.regex(err?.message ?? '', /must be an integer from 1 to 65535 \(protocol\(\)\.limits\.maxQueueCapacity; no native addon is loaded, so its documented fallback, the same number\)$/)
})

for (const engine of ['inline', 'thread'] as const) {
  test.serial(`${engine}, without the addon: openIo runs 'standard' at the bounds and rejects past them with ERR_IO_CONFIG from the fallback bound`, async (t) => {
    const l = FALLBACK_LIMITS
    await withEnv({ STREAMLINE_IO_TEST_NO_ADDON: '1', STREAMLINE_IO_ENGINE: engine }, async () => {
      const io = await openIo({ queueDepth: l.maxQueueCapacity, sqDepth: l.maxSqDepth })
      t.teardown(() => io.close())
      t.is(io.backend, 'standard')
      t.regex(io.fallbackReason ?? '', /STREAMLINE_IO_TEST_NO_ADDON/)
      await roundTrip(t, io)
      for (const p of past()) {
        const err = await t.throwsAsync(openIo({ [p.key]: p.value }), { instanceOf: ConfigError })
        t.like(err, { code: 'ERR_IO_CONFIG', setting: p.key, source: 'override' })
        t.deepEqual(err?.bound, { name: p.bound, value: l[p.bound], from: 'fallback' })
      }
    })
  })
}
