// The package as a user gets it (issue 12): `npm pack` of this project and of its
// linux-x64-gnu platform package (filled the way `napi artifacts` fills it: the built
// .node copied in), both installed `--offline` into a fresh project — never a package of
// these names from a registry — then a strict TypeScript consumer compiled against the
// shipped types (module nodenext) and run as ESM and as CommonJS. Without the platform
// package, and with one of another version, the same consumer runs on the standard
// backend and prints why. Uses the build the suite already has (`npm pack
// --ignore-scripts`: packing would otherwise run `prepare`, a full release build).
//
// The registry is never asked: the package's runtime dependencies are packed from this
// project's node_modules and installed beside it as tarballs.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import test, { type ExecutionContext } from 'ava'

import { ioUringExpected, projectRoot } from './helpers/backends'
import { cleanEnv, lastJson, runCommand, summary, type ChildResult } from './helpers/child'
import { checkAddon, platformTarget } from '../ts/native'

const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as {
  name: string
  version: string
  files: string[]
  napi: { binaryName: string; targets: string[] }
  optionalDependencies: Record<string, string>
  dependencies: Record<string, string>
}
const TARGET = 'linux-x64-gnu'
const PLATFORM_PACKAGE = `${pkg.name}-${TARGET}`
const BINARY = `${pkg.napi.binaryName}.${TARGET}.node`
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const tsc = path.join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc')
/** npm's and tsc's children: a hang detector (no CPU time, I/O or output), not a deadline. */
const IDLE_MS = 120_000

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'streamline-io-packaging-'))
test.after.always(() => fs.rmSync(work, { recursive: true, force: true }))

async function run(t: ExecutionContext, what: string, command: string, args: string[], cwd: string): Promise<ChildResult> {
  // npm's own variables (npm_config_*) from `npm test` must not reach the nested npm.
  const env = cleanEnv()
  for (const k of Object.keys(env)) if (k.toLowerCase().startsWith('npm_')) delete env[k]
  const r = await runCommand(command, args, { cwd, env, timeoutMs: IDLE_MS })
  if (r.code !== 0) throw new Error(`${what} (${command} ${args.join(' ')} in ${cwd}) failed: ${summary(r)}`)
  t.log(`${what}: ok`)
  return r
}

/** `npm pack --ignore-scripts` of `dirs` into `dest`; the tarballs' paths, in order. */
async function pack(t: ExecutionContext, what: string, dirs: string[], dest: string, cwd = projectRoot): Promise<string[]> {
  fs.mkdirSync(dest, { recursive: true })
  const r = await run(t, what, npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', dest, ...dirs], cwd)
  return (JSON.parse(r.stdout) as Array<{ filename: string }>).map((p) => path.join(dest, p.filename))
}

/** The project's runtime dependencies and theirs, as installed (package-lock.json's tree). */
function runtimeDependencyDirs(): string[] {
  const lock = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dependencies?: Record<string, string> }>
  }
  const found = new Set<string>()
  const visit = (from: string, name: string): void => {
    // Node's resolution: the nearest node_modules/<name> from `from` up to the root.
    let base = from
    for (;;) {
      const key = `${base === '' ? '' : `${base}/`}node_modules/${name}`
      if (lock.packages[key] !== undefined) {
        if (found.has(key)) return
        found.add(key)
        for (const d of Object.keys(lock.packages[key].dependencies ?? {})) visit(key, d)
        return
      }
      if (base === '') throw new Error(`package-lock.json has no ${name} reachable from '${from}'`)
      const i = base.lastIndexOf('/node_modules/')
      base = i < 0 ? '' : base.slice(0, i)
    }
  }
  for (const d of Object.keys(pkg.dependencies)) visit('', d)
  return [...found].map((k) => path.join(projectRoot, k))
}

/** The platform package filled as `napi artifacts` fills npm/<target>/: its package.json and the .node. */
function platformDir(name: string, version: string): string {
  const dir = path.join(work, name)
  fs.mkdirSync(dir, { recursive: true })
  const manifest = JSON.parse(fs.readFileSync(path.join(projectRoot, 'npm', TARGET, 'package.json'), 'utf8')) as Record<string, unknown>
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ ...manifest, version }, null, 2))
  fs.copyFileSync(path.join(projectRoot, BINARY), path.join(dir, BINARY))
  return dir
}

interface Tarballs {
  main: string
  platform: string
  otherVersion: string
  deps: string[]
}

let tarballs: Promise<Tarballs> | undefined
function packAll(t: ExecutionContext): Promise<Tarballs> {
  tarballs ??= (async () => {
    if (!fs.existsSync(path.join(projectRoot, BINARY))) throw new Error(`${BINARY} is not built (npm run build:native)`)
    const [main] = await pack(t, `npm pack ${pkg.name}`, ['.'], path.join(work, 'tarballs'))
    const [platform] = await pack(t, `npm pack ${PLATFORM_PACKAGE}`, [platformDir('platform', pkg.version)], path.join(work, 'tarballs'))
    const [otherVersion] = await pack(t, `npm pack ${PLATFORM_PACKAGE}@0.0.9`, [platformDir('platform-other', '0.0.9')], path.join(work, 'tarballs-other'))
    const deps = await pack(t, 'npm pack of the runtime dependencies', runtimeDependencyDirs(), path.join(work, 'deps'))
    return { main, platform, otherVersion, deps }
  })()
  return tarballs
}

/** A fresh project with `tarballs` installed `--offline` (plus `flags`). */
async function consumerProject(t: ExecutionContext, name: string, tarballs: string[], flags: string[] = []): Promise<string> {
  const dir = path.join(work, name)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }, null, 2))
  await run(t, `npm install in ${name}`, npm, ['install', '--offline', '--no-audit', '--no-fund', ...flags, ...tarballs], dir)
  return dir
}

// The consumer: one body, compiled as an ES module (.mts) and as CommonJS (.cts).
const consumerBody = (format: 'esm' | 'commonjs'): string => `
import { openIo, openLog, openWal, type AsyncFile, type Io, type PartitionLog, type Wal } from '@streamline/io'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const format: string = '${format}'

async function main(dir: string): Promise<void> {
  const io: Io = await openIo()
  const file: AsyncFile = await io.create(path.join(dir, 'file'))
  const written = await file.writeAt(Buffer.from('hello, ${format}'), 0)
  const { bytesRead, buffer } = await file.readAt(Buffer.alloc(written.bytesWritten), 0)
  await file.close()

  const wal: Wal = await openWal(io, path.join(dir, 'wal'))
  const lsn: number = await wal.append(Buffer.from('event'))
  await wal.close()

  const log: PartitionLog = await openLog(io, path.join(dir, 'log'))
  const { baseOffset, lastOffset } = await log.append([{ key: Buffer.from('k'), value: Buffer.from('v1') }, { value: Buffer.from('v2') }])
  const records = await log.readRecords(baseOffset)
  await log.close()

  console.log(JSON.stringify({
    format,
    backend: io.backend,
    fallbackReason: io.fallbackReason,
    read: buffer.subarray(0, bytesRead).toString(),
    lsn,
    offsets: [baseOffset, lastOffset],
    values: records.map((r) => (r.value === null ? null : r.value.toString())),
  }))
  await io.close()
}

main(process.argv[2] ?? '.').catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
`

interface ConsumerReport {
  format: string
  backend: 'io_uring' | 'standard'
  fallbackReason: string | null
  read: string
  lsn: number
  offsets: number[]
  values: Array<string | null>
}

/**
 * Writes `dir`/tsconfig.json as a user's strict project has it (module nodenext, ES2022,
 * Node's types from this project's node_modules), with `extra` compiler options.
 */
function writeStrictTsconfig(dir: string, include: string[], extra: Record<string, unknown>): void {
  const compilerOptions = {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'ES2022',
    lib: ['ES2022'],
    strict: true,
    typeRoots: [path.join(projectRoot, 'node_modules', '@types')],
    types: ['node'],
    ...extra,
  }
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include }))
}

/** Writes the consumer and its strict nodenext tsconfig into `dir` and compiles it with tsc. */
async function compileConsumer(t: ExecutionContext, dir: string): Promise<void> {
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'src', 'consumer.mts'), consumerBody('esm'))
  fs.writeFileSync(path.join(dir, 'src', 'consumer.cts'), consumerBody('commonjs'))
  // The shipped .d.ts files are checked too, not skipped.
  writeStrictTsconfig(dir, ['src'], { skipLibCheck: false, outDir: 'out', rootDir: 'src' })
  await run(t, 'tsc of the consumer (strict, nodenext)', process.execPath, [tsc, '-p', dir], dir)
}

async function runConsumer(t: ExecutionContext, dir: string, format: 'esm' | 'commonjs', compiled: string): Promise<ConsumerReport> {
  const data = fs.mkdtempSync(path.join(work, `data-${format}-`))
  // The compiled files resolve '@streamline/io' from where they are: copy them into `dir`.
  const out = path.join(dir, 'out')
  if (path.resolve(compiled) !== path.resolve(out)) fs.cpSync(compiled, out, { recursive: true })
  const file = path.join(out, format === 'esm' ? 'consumer.mjs' : 'consumer.cjs')
  const r = await run(t, `the ${format} consumer in ${path.basename(dir)}`, process.execPath, [file, data], dir)
  const report = lastJson<ConsumerReport>(r)
  t.is(report.format, format)
  t.is(report.read, `hello, ${format}`)
  t.is(report.lsn, 1)
  t.deepEqual(report.offsets, [0, 1])
  t.deepEqual(report.values, ['v1', 'v2'])
  return report
}

let compiled: Promise<string> | undefined
/** The consumer compiled once, against the full install; its output runs in every project. */
function fullInstall(t: ExecutionContext): Promise<string> {
  compiled ??= (async () => {
    const tb = await packAll(t)
    const dir = await consumerProject(t, 'consumer', [tb.main, tb.platform, ...tb.deps])
    await compileConsumer(t, dir)
    return dir
  })()
  return compiled
}

test('installed with its platform package, a strict nodenext TypeScript consumer compiles and runs as ESM and as CommonJS on io_uring', async (t) => {
  t.timeout(15 * 60_000)
  const dir = await fullInstall(t)
  const installed = path.join(dir, 'node_modules', PLATFORM_PACKAGE, 'package.json')
  t.is((JSON.parse(fs.readFileSync(installed, 'utf8')) as { version: string }).version, pkg.version)
  t.false(fs.existsSync(path.join(dir, 'node_modules', pkg.name, BINARY)), 'the main package ships no .node of its own')
  for (const format of ['esm', 'commonjs'] as const) {
    const report = await runConsumer(t, dir, format, path.join(dir, 'out'))
    if (ioUringExpected()) {
      t.is(report.backend, 'io_uring', `${format}: fallbackReason ${JSON.stringify(report.fallbackReason)}`)
      t.is(report.fallbackReason, null)
    } else {
      t.log(`io_uring not expected here; ${format} ran on ${report.backend}: ${report.fallbackReason}`)
    }
  }
})

test('without the platform package (--omit=optional): the standard backend, and the reason names the binaries looked for', async (t) => {
  t.timeout(15 * 60_000)
  const [tb, compiledDir] = await Promise.all([packAll(t), fullInstall(t)])
  const dir = await consumerProject(t, 'consumer-omit', [tb.main, ...tb.deps], ['--omit=optional'])
  t.false(fs.existsSync(path.join(dir, 'node_modules', PLATFORM_PACKAGE)), 'npm left the optional dependency out')
  for (const format of ['esm', 'commonjs'] as const) {
    const report = await runConsumer(t, dir, format, path.join(compiledDir, 'out'))
    t.is(report.backend, 'standard')
    const reason = report.fallbackReason ?? ''
    t.true(reason.includes(path.join(dir, 'node_modules', pkg.name, BINARY)), reason)
    t.regex(reason, new RegExp(`${PLATFORM_PACKAGE} is not installed \\(an optional dependency of ${pkg.name}: installed with --omit=optional`))
    t.log(`${format}: ${reason}`)
  }
})

test('with a platform package of another version: the standard backend, and the reason names the binary and both versions', async (t) => {
  t.timeout(15 * 60_000)
  const [tb, compiledDir] = await Promise.all([packAll(t), fullInstall(t)])
  const dir = await consumerProject(t, 'consumer-other-version', [tb.main, tb.otherVersion, ...tb.deps])
  const installed = path.join(dir, 'node_modules', PLATFORM_PACKAGE)
  t.is((JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')) as { version: string }).version, '0.0.9')
  for (const format of ['esm', 'commonjs'] as const) {
    const report = await runConsumer(t, dir, format, path.join(compiledDir, 'out'))
    t.is(report.backend, 'standard')
    const reason = report.fallbackReason ?? ''
    t.true(reason.includes(`${path.join(installed, BINARY)} is from ${PLATFORM_PACKAGE}@0.0.9, not ${pkg.version}`), reason)
    t.log(`${format}: ${reason}`)
  }
})

test('npm pack --dry-run: the tarball holds only what users need', async (t) => {
  t.timeout(5 * 60_000)
  const r = await run(t, 'npm pack --dry-run', npm, ['pack', '--dry-run', '--ignore-scripts', '--json'], projectRoot)
  const files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path).sort()
  const outside = files.filter((f) => !/^dist\/ts\/.*\.(js|d\.ts)$/.test(f))
  t.deepEqual(outside, ['README.md', 'bin/streamline-io', 'esm/index.d.mts', 'esm/index.mjs', 'package.json'])
  for (const entry of ['dist/ts/index.js', 'dist/ts/index.d.ts', 'dist/ts/cli/main.js', 'dist/ts/wal/index.js', 'dist/ts/log/index.js']) {
    t.true(files.includes(entry), entry)
  }
  t.deepEqual(files.filter((f) => /\.node$|\.map$|^dist\/(__test__|benches|scripts)\/|^(ts|crates|npm|__test__)\//.test(f)), [])
})

test('one version everywhere: package.json, its optionalDependencies, npm/<target>/package.json, the Cargo workspace and the built addon', (t) => {
  t.deepEqual(pkg.napi.targets, ['x86_64-unknown-linux-gnu'], 'the one target this machine builds')
  t.deepEqual(pkg.optionalDependencies, { [PLATFORM_PACKAGE]: pkg.version })
  const platform = JSON.parse(fs.readFileSync(path.join(projectRoot, 'npm', TARGET, 'package.json'), 'utf8')) as Record<string, unknown>
  t.like(platform, { name: PLATFORM_PACKAGE, version: pkg.version, os: ['linux'], cpu: ['x64'], libc: ['glibc'], main: BINARY, files: [BINARY] })
  const cargo = fs.readFileSync(path.join(projectRoot, 'Cargo.toml'), 'utf8')
  t.regex(cargo, new RegExp(`\\[workspace\\.package\\]\\nversion = "${pkg.version.replace(/\./g, '\\.')}"`))
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const addon = require(path.join(projectRoot, BINARY)) as { version(): string }
  t.is(addon.version(), pkg.version)
  t.is(platformTarget(), TARGET)
})

test('the ESM entry exports exactly the CommonJS entry\'s names', async (t) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cjs = require(path.join(projectRoot, 'dist', 'ts', 'index.js')) as Record<string, unknown>
  // A real dynamic import (tsc would turn `import()` into require under module commonjs).
  const dynamicImport = new Function('u', 'return import(u)') as (u: string) => Promise<Record<string, unknown>>
  const esm = await dynamicImport(pathToFileURL(path.join(projectRoot, 'esm', 'index.mjs')).href)
  t.deepEqual(Object.keys(esm).sort(), Object.keys(cjs).sort())
  for (const name of Object.keys(cjs)) t.is(esm[name], cjs[name], `${name}: the same object, one module instance`)
})

test('the loader refuses a binary of another version or one without version(), saying which', (t) => {
  const good = require(path.join(projectRoot, BINARY)) as Record<string, unknown> // eslint-disable-line @typescript-eslint/no-require-imports
  t.is(typeof checkAddon(good, pkg.version), 'object')
  t.is(checkAddon({ ...good, version: () => '0.0.9' }, pkg.version), `is version 0.0.9, not ${pkg.version} (the version of @streamline/io that loads it)`)
  const { version: _version, ...old } = good
  t.is(checkAddon(old, pkg.version), `lacks version (a build from before version ${pkg.version})`)
  t.regex(String(checkAddon({}, pkg.version)), /^lacks kernelRelease, probe, createEngine/)
})

test('platformTarget names napi-rs targets', (t) => {
  t.is(platformTarget('linux', 'x64', () => false), 'linux-x64-gnu')
  t.is(platformTarget('linux', 'arm64', () => true), 'linux-arm64-musl')
  t.is(platformTarget('linux', 'arm', () => false), 'linux-arm-gnueabihf')
  t.is(platformTarget('darwin', 'arm64'), 'darwin-arm64')
  t.is(platformTarget('win32', 'x64'), 'win32-x64-msvc')
})

test('type-level: misuse of the shipped types (wrong option types, results used without await) fails to compile, with the expected error on each line', async (t) => {
  t.timeout(15 * 60_000)
  const consumer = await fullInstall(t)
  const source = fs.readFileSync(path.join(projectRoot, '__test__', 'fixtures', 'type-misuse.txt'), 'utf8')
  const expected: string[] = []
  source.split('\n').forEach((line, i) => {
    const m = /\/\/ expect (TS\d+)$/.exec(line)
    if (m !== null) expected.push(`${i + 1} ${m[1]}`)
  })
  t.true(expected.length >= 20, `${expected.length} misuse lines`)
  const dir = path.join(consumer, 'misuse')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'misuse.mts'), source)
  fs.writeFileSync(path.join(dir, 'misuse.cts'), source)
  writeStrictTsconfig(dir, ['.'], { noEmit: true })
  const r = await runCommand(process.execPath, [tsc, '-p', dir], { cwd: consumer, env: cleanEnv(), timeoutMs: IDLE_MS })
  t.not(r.code, 0, `tsc must fail: ${summary(r)}`)
  for (const file of ['misuse.mts', 'misuse.cts']) {
    const got = r.stdout
      .split('\n')
      .map((l) => new RegExp(`^misuse/${file.replace('.', '\\.')}\\((\\d+),\\d+\\): error (TS\\d+)`).exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => `${m[1]} ${m[2]}`)
    t.deepEqual(got, expected, `${file}: every marked line fails with its error, no other line fails\n${r.stdout.slice(0, 6000)}`)
  }
})
