// loadConfig: defaults < env (STREAMLINE_IO_*) < argv flags < overrides; a bad value
// throws an Error naming the setting and where it came from; unknown flags are ignored.

import test from 'ava'

import { loadConfig, openIo } from '../ts/index'
import { backends, backendConfig, openBackend, outcome, describeError } from './helpers/backends'
import type { IoConfig } from '../ts/types'

const MiB = 1024 * 1024

const defaults: IoConfig = {
  enableIoUring: true,
  sqDepth: 256,
  queueDepth: 1024,
  ioWorkers: 1,
  bufferPoolSize: 64,
  sizeClasses: [4096, 65536, 1048576],
  sqpoll: false,
  preallocateWal: true,
  preallocateSize: 64 * MiB,
}

test('loadConfig: defaults from the Streamline spec', (t) => {
  const c = loadConfig({}, {}, [])
  t.like(c, defaults)
  t.deepEqual(c.sizeClasses, defaults.sizeClasses)
  t.like(loadConfig(undefined, {}, []), defaults, 'overrides may be omitted')
})

test('loadConfig: every STREAMLINE_IO_* variable is read', (t) => {
  const c = loadConfig({}, {
    STREAMLINE_IO_URING: 'false',
    STREAMLINE_IO_SQ_DEPTH: '64',
    STREAMLINE_IO_QUEUE_DEPTH: '32',
    STREAMLINE_IO_WORKERS: '2',
    STREAMLINE_IO_BUFFER_POOL_SIZE: '16',
    STREAMLINE_IO_SIZE_CLASSES: '4096,8192',
    STREAMLINE_IO_SQPOLL: 'true',
    STREAMLINE_IO_PREALLOCATE_WAL: 'false',
    STREAMLINE_IO_PREALLOCATE_SIZE: '1048576',
  }, [])
  t.deepEqual(
    { ...c },
    {
      ...c,
      enableIoUring: false,
      sqDepth: 64,
      queueDepth: 32,
      ioWorkers: 2,
      bufferPoolSize: 16,
      sizeClasses: [4096, 8192],
      sqpoll: true,
      preallocateWal: false,
      preallocateSize: MiB,
    },
  )
  t.is(loadConfig({}, { STREAMLINE_IO_URING: 'true' }, []).enableIoUring, true)
})

test('loadConfig: argv flags are read, in "--flag value" form', (t) => {
  const c = loadConfig({}, {}, [
    '--enable-io-uring', 'false',
    '--io-uring-sq-depth', '128',
    '--io-queue-depth', '16',
    '--io-workers', '3',
    '--io-buffer-pool-size', '8',
  ])
  t.is(c.enableIoUring, false)
  t.is(c.sqDepth, 128)
  t.is(c.queueDepth, 16)
  t.is(c.ioWorkers, 3)
  t.is(c.bufferPoolSize, 8)
  t.is(loadConfig({}, {}, ['--io-uring-sqpoll', 'true']).sqpoll, true)
  t.is(loadConfig({}, {}, ['--preallocate-wal', 'false']).preallocateWal, false)
  t.is(loadConfig({}, {}, ['--preallocate-size', '4096']).preallocateSize, 4096)
})

test('loadConfig: precedence defaults < env < argv < overrides, setting by setting', (t) => {
  const env = { STREAMLINE_IO_SQ_DEPTH: '64', STREAMLINE_IO_WORKERS: '2', STREAMLINE_IO_QUEUE_DEPTH: '100' }
  const argv = ['--io-uring-sq-depth', '128', '--io-workers', '4']
  t.is(loadConfig({}, {}, []).sqDepth, 256, 'default')
  t.is(loadConfig({}, env, []).sqDepth, 64, 'env over default')
  t.is(loadConfig({}, env, argv).sqDepth, 128, 'argv over env')
  t.is(loadConfig({ sqDepth: 512 }, env, argv).sqDepth, 512, 'override over argv')
  const c = loadConfig({ ioWorkers: 5 }, env, argv)
  t.is(c.ioWorkers, 5, 'override')
  t.is(c.sqDepth, 128, 'argv, where not overridden')
  t.is(c.queueDepth, 100, 'env, where neither argv nor override sets it')
  t.is(c.bufferPoolSize, 64, 'default, where nothing sets it')
  t.is(loadConfig({ enableIoUring: true }, { STREAMLINE_IO_URING: 'false' }, ['--enable-io-uring', 'false']).enableIoUring, true)
  t.is(loadConfig({}, { STREAMLINE_IO_URING: 'true' }, ['--enable-io-uring', 'false']).enableIoUring, false)
})

test('loadConfig: unknown argv flags and positional arguments are ignored', (t) => {
  const c = loadConfig({}, {}, ['serve', '--foo', 'bar', '--io-workers', '2', '--verbose', '--unknown-flag=3', 'extra'])
  t.is(c.ioWorkers, 2)
  t.like(c, { ...defaults, ioWorkers: 2 })
})

test('loadConfig: an override with undefined does not erase a lower layer', (t) => {
  const c = loadConfig({ sqDepth: undefined } as Partial<IoConfig>, { STREAMLINE_IO_SQ_DEPTH: '64' }, [])
  t.is(c.sqDepth, 64)
})

test('loadConfig: unrelated environment variables are ignored', (t) => {
  t.like(loadConfig({}, { PATH: '/bin', STREAMLINE_OTHER: 'x', HOME: '/root' }, []), defaults)
})

interface Bad {
  what: string
  run: () => unknown
  setting: RegExp
  source: RegExp
}

const SQ = /sqDepth|STREAMLINE_IO_SQ_DEPTH|io-uring-sq-depth/
const WORKERS = /ioWorkers|STREAMLINE_IO_WORKERS|io-workers/
const QD = /queueDepth|STREAMLINE_IO_QUEUE_DEPTH|io-queue-depth/
const ENV = /env|STREAMLINE_IO_/i
const ARGV = /argv|command line|--io-|--enable/i
const OVERRIDE = /override|option/i

const bad: Bad[] = [
  { what: 'sqDepth 100 (not a power of two) as override', run: () => loadConfig({ sqDepth: 100 }, {}, []), setting: SQ, source: OVERRIDE },
  { what: 'sqDepth 100 from env', run: () => loadConfig({}, { STREAMLINE_IO_SQ_DEPTH: '100' }, []), setting: SQ, source: ENV },
  { what: 'sqDepth 100 from argv', run: () => loadConfig({}, {}, ['--io-uring-sq-depth', '100']), setting: SQ, source: ARGV },
  { what: 'sqDepth 0', run: () => loadConfig({ sqDepth: 0 }, {}, []), setting: SQ, source: OVERRIDE },
  { what: 'ioWorkers 0 as override', run: () => loadConfig({ ioWorkers: 0 }, {}, []), setting: WORKERS, source: OVERRIDE },
  { what: 'ioWorkers 0 from env', run: () => loadConfig({}, { STREAMLINE_IO_WORKERS: '0' }, []), setting: WORKERS, source: ENV },
  { what: 'ioWorkers -1 from argv', run: () => loadConfig({}, {}, ['--io-workers', '-1']), setting: WORKERS, source: ARGV },
  { what: "ioWorkers 'abc' from env", run: () => loadConfig({}, { STREAMLINE_IO_WORKERS: 'abc' }, []), setting: WORKERS, source: ENV },
  { what: "queueDepth 'abc' from env", run: () => loadConfig({}, { STREAMLINE_IO_QUEUE_DEPTH: 'abc' }, []), setting: QD, source: ENV },
  { what: "queueDepth 'abc' from argv", run: () => loadConfig({}, {}, ['--io-queue-depth', 'abc']), setting: QD, source: ARGV },
  { what: 'queueDepth 1.5 as override', run: () => loadConfig({ queueDepth: 1.5 }, {}, []), setting: QD, source: OVERRIDE },
  { what: 'queueDepth NaN as override', run: () => loadConfig({ queueDepth: NaN }, {}, []), setting: QD, source: OVERRIDE },
  { what: "queueDepth '12' (a string) as override", run: () => loadConfig({ queueDepth: '12' as unknown as number }, {}, []), setting: QD, source: OVERRIDE },
  { what: "queueDepth '12abc' from env", run: () => loadConfig({}, { STREAMLINE_IO_QUEUE_DEPTH: '12abc' }, []), setting: QD, source: ENV },
  { what: 'queueDepth 0', run: () => loadConfig({ queueDepth: 0 }, {}, []), setting: QD, source: OVERRIDE },
  { what: "enableIoUring 'maybe' from env", run: () => loadConfig({}, { STREAMLINE_IO_URING: 'maybe' }, []), setting: /enableIoUring|STREAMLINE_IO_URING|enable-io-uring/, source: ENV },
  { what: "enableIoUring 'yes please' from argv", run: () => loadConfig({}, {}, ['--enable-io-uring', 'yes please']), setting: /enableIoUring|STREAMLINE_IO_URING|enable-io-uring/, source: ARGV },
  { what: 'enableIoUring 1 (a number) as override', run: () => loadConfig({ enableIoUring: 1 as unknown as boolean }, {}, []), setting: /enableIoUring/, source: OVERRIDE },
  { what: "sizeClasses 'a,b' from env", run: () => loadConfig({}, { STREAMLINE_IO_SIZE_CLASSES: 'a,b' }, []), setting: /sizeClasses|STREAMLINE_IO_SIZE_CLASSES/, source: ENV },
  { what: 'bufferPoolSize -5 from argv', run: () => loadConfig({}, {}, ['--io-buffer-pool-size', '-5']), setting: /bufferPoolSize|STREAMLINE_IO_BUFFER_POOL_SIZE|io-buffer-pool-size/, source: ARGV },
  { what: 'a flag with its value missing', run: () => loadConfig({}, {}, ['--io-workers']), setting: WORKERS, source: ARGV },
]

for (const b of bad) {
  test(`loadConfig rejects ${b.what}: an Error naming the setting and its source`, (t) => {
    let thrown: unknown
    try {
      const c = b.run()
      t.fail(`accepted: ${JSON.stringify(c)}`)
      return
    } catch (e) {
      thrown = e
    }
    t.true(thrown instanceof Error, `an Error: ${JSON.stringify(describeError(thrown))}`)
    const msg = String((thrown as Error).message)
    t.regex(msg, b.setting, 'the message names the setting')
    t.regex(msg, b.source, 'the message names where the value came from')
  })
}

test.serial('loadConfig(overrides) defaults env to process.env and argv to [] (process.argv is not read)', (t) => {
  const saved = process.env.STREAMLINE_IO_QUEUE_DEPTH
  const savedArgv = process.argv
  process.env.STREAMLINE_IO_QUEUE_DEPTH = '48'
  process.argv = [...savedArgv, '--io-queue-depth', '96']
  try {
    t.is(loadConfig().queueDepth, 48)
    t.is(loadConfig({ queueDepth: 24 }).queueDepth, 24)
  } finally {
    if (saved === undefined) delete process.env.STREAMLINE_IO_QUEUE_DEPTH
    else process.env.STREAMLINE_IO_QUEUE_DEPTH = saved
    process.argv = savedArgv
  }
})

test.serial('openIo(overrides) = loadConfig(overrides, process.env, []): io.config shows the merge', async (t) => {
  const saved = process.env.STREAMLINE_IO_WORKERS
  process.env.STREAMLINE_IO_WORKERS = '2'
  try {
    const io = await openIo({ queueDepth: 8, enableIoUring: false })
    try {
      t.like(io.config, { ...defaults, queueDepth: 8, ioWorkers: 2, enableIoUring: false })
    } finally {
      await io.close()
    }
  } finally {
    if (saved === undefined) delete process.env.STREAMLINE_IO_WORKERS
    else process.env.STREAMLINE_IO_WORKERS = saved
  }
})

for (const backend of backends) {
  test(`${backend}: openIo with an invalid override rejects (does not throw synchronously) naming the setting`, async (t) => {
    const o = await outcome(() => openIo({ ...backendConfig(backend), sqDepth: 100 }))
    t.is(o.kind, 'rejected', `openIo({ sqDepth: 100 }) must reject: ${o.kind}`)
    if (o.kind === 'rejected') {
      t.true(o.error instanceof Error)
      t.regex(String((o.error as Error).message), SQ)
    }
  })

  test(`${backend}: io.config is the merged configuration`, async (t) => {
    const io = await openBackend(t, backend, { sqDepth: 32, queueDepth: 128, ioWorkers: 2 })
    t.like(io.config, { sqDepth: 32, queueDepth: 128, ioWorkers: 2, enableIoUring: backend === 'io_uring' })
  })
}
