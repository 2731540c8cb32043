// The environment-only settings — STREAMLINE_IO_ENGINE and the STREAMLINE_IO_TEST_*
// hooks — are resolved in ts/config.ts with their sources and handed down (issue 10):
// resolveEnv's values and sources, ERR_IO_CONFIG naming the variable for a bad value,
// resolveConfig handing down the addon and the limits, openIo and `streamline-io info`
// reporting the engine's source. (The hooks' effects are fallback.spec.ts's.)

import test from 'ava'

import { ConfigError, DEFAULT_ENGINE_MODE, resolveConfig, resolveEnv } from '../ts/config'
import { openIo } from '../ts/index'
import { backendConfig, backends } from './helpers/backends'

test('resolveEnv: defaults, each with source default', (t) => {
  const r = resolveEnv({})
  t.deepEqual(r.values, {
    engine: DEFAULT_ENGINE_MODE,
    testSetupErrno: 0,
    testKernelRelease: null,
    testProcStatus: null,
    testRingFailAfter: 0,
    testNoAddon: false,
  })
  t.is(DEFAULT_ENGINE_MODE, 'inline')
  t.true(Object.values(r.sources).every((s) => s === 'default'))
  t.deepEqual(r.variables, {
    engine: 'STREAMLINE_IO_ENGINE',
    testSetupErrno: 'STREAMLINE_IO_TEST_SETUP_ERRNO',
    testKernelRelease: 'STREAMLINE_IO_TEST_KERNEL_RELEASE',
    testProcStatus: 'STREAMLINE_IO_TEST_PROC_STATUS',
    testRingFailAfter: 'STREAMLINE_IO_TEST_RING_FAIL_AFTER',
    testNoAddon: 'STREAMLINE_IO_TEST_NO_ADDON',
  })
  t.deepEqual(resolveEnv({ STREAMLINE_IO_ENGINE: '', STREAMLINE_IO_TEST_SETUP_ERRNO: '' }).sources.engine, 'default', 'empty is unset')
})

test('resolveEnv: every variable is read, with source env', (t) => {
  const r = resolveEnv({
    STREAMLINE_IO_ENGINE: 'thread',
    STREAMLINE_IO_TEST_SETUP_ERRNO: 'EPERM',
    STREAMLINE_IO_TEST_KERNEL_RELEASE: '5.4.0',
    STREAMLINE_IO_TEST_PROC_STATUS: '/tmp/status',
    STREAMLINE_IO_TEST_RING_FAIL_AFTER: '12',
    STREAMLINE_IO_TEST_NO_ADDON: '1',
  })
  t.deepEqual(r.values, {
    engine: 'thread',
    testSetupErrno: 1,
    testKernelRelease: '5.4.0',
    testProcStatus: '/tmp/status',
    testRingFailAfter: 12,
    testNoAddon: true,
  })
  t.true(Object.values(r.sources).every((s) => s === 'env'))
  t.is(resolveEnv({ STREAMLINE_IO_TEST_SETUP_ERRNO: '12' }).values.testSetupErrno, 12, 'an errno number')
  t.is(resolveEnv({ STREAMLINE_IO_ENGINE: 'inline' }).values.engine, 'inline')
})

test('STREAMLINE_IO_TEST_NO_ADDON: only "1" switches it on, as before', (t) => {
  for (const v of ['0', 'true', 'yes', ' 1']) t.false(resolveEnv({ STREAMLINE_IO_TEST_NO_ADDON: v }).values.testNoAddon, v)
  t.true(resolveEnv({ STREAMLINE_IO_TEST_NO_ADDON: '1' }).values.testNoAddon)
})

const bad: Array<[string, string, RegExp]> = [
  ['STREAMLINE_IO_ENGINE', 'fast', /^STREAMLINE_IO_ENGINE=fast from the environment is not 'inline' or 'thread'$/],
  ['STREAMLINE_IO_ENGINE', 'Inline', /is not 'inline' or 'thread'/],
  ['STREAMLINE_IO_TEST_SETUP_ERRNO', 'EBOGUS', /^STREAMLINE_IO_TEST_SETUP_ERRNO=EBOGUS from the environment is not an errno name or number$/],
  ['STREAMLINE_IO_TEST_SETUP_ERRNO', '-3', /not an errno name or number/],
  ['STREAMLINE_IO_TEST_RING_FAIL_AFTER', '-1', /^STREAMLINE_IO_TEST_RING_FAIL_AFTER=-1 from the environment is not a non-negative integer$/],
  ['STREAMLINE_IO_TEST_RING_FAIL_AFTER', '1.5', /not a non-negative integer/],
]

for (const [variable, value, message] of bad) {
  test(`resolveEnv: ${variable}=${value} is ERR_IO_CONFIG naming the variable and its source`, (t) => {
    const err = t.throws(() => resolveEnv({ [variable]: value }), { instanceOf: ConfigError })
    t.like(err, { code: 'ERR_IO_CONFIG', setting: variable, source: 'env' })
    t.regex(err?.message ?? '', message)
    t.throws(() => resolveConfig({}, { [variable]: value }, []), { instanceOf: ConfigError }, 'resolveConfig resolves them too')
  })
}

test('resolveConfig hands down the environment-only settings, the addon and the limits it checked against', (t) => {
  const r = resolveConfig({}, { STREAMLINE_IO_ENGINE: 'thread', STREAMLINE_IO_TEST_RING_FAIL_AFTER: '7' }, [])
  t.is(r.env.values.engine, 'thread')
  t.is(r.env.sources.engine, 'env')
  t.is(r.env.values.testRingFailAfter, 7)
  t.not(r.addon.addon, null)
  t.is(r.limits.from, 'addon')
  const none = resolveConfig({}, { STREAMLINE_IO_TEST_NO_ADDON: '1' }, [])
  t.is(none.addon.addon, null)
  t.is(none.limits.from, 'fallback')
  t.not(resolveConfig({}, {}, []).addon.addon, null, 'the hook applies to the call that has it, not to later ones')
})

async function withEngine<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.STREAMLINE_IO_ENGINE
  if (value === undefined) delete process.env.STREAMLINE_IO_ENGINE
  else process.env.STREAMLINE_IO_ENGINE = value
  try {
    return await fn()
  } finally {
    if (saved === undefined) delete process.env.STREAMLINE_IO_ENGINE
    else process.env.STREAMLINE_IO_ENGINE = saved
  }
}

for (const backend of backends) {
  test.serial(`${backend}: openIo with a bad STREAMLINE_IO_ENGINE rejects with ERR_IO_CONFIG naming it (both backends alike)`, async (t) => {
    const err = await withEngine('turbo', () => t.throwsAsync(openIo(backendConfig(backend)), { instanceOf: ConfigError }))
    t.like(err, { code: 'ERR_IO_CONFIG', setting: 'STREAMLINE_IO_ENGINE', source: 'env' })
  })
}

test.serial('io_uring: io.kernel.ring names the engine mode and where it came from', async (t) => {
  for (const [value, engine, source] of [[undefined, DEFAULT_ENGINE_MODE, 'default'], ['thread', 'thread', 'env'], ['inline', 'inline', 'env']] as const) {
    const io = await withEngine(value, () => openIo(backendConfig('io_uring')))
    try {
      if (io.backend !== 'io_uring') {
        t.is(io.kernel.ring, null)
        continue
      }
      t.is(io.kernel.ring?.engine, engine)
      t.is(io.kernel.ring?.engineSource, source)
    } finally {
      await io.close()
    }
  }
})
