// The TypeScript side's layering (issue 10), read from the sources: one file of ts/
// knows the wire format and nothing restates its numbers; nothing below ts/config.ts
// reads process.env; ts/io.ts needs no `instanceof` of a backend; ts/ imports nothing
// from benches/, and the package ships no bench code the CLI does not run.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

const root = path.join(__dirname, '..', '..')
const tsDir = path.join(root, 'ts')

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : []
  })
}

const rel = (p: string) => path.relative(root, p)
/** The code of a file without its comments (so prose may name what code must not use). */
const code = (p: string) => fs.readFileSync(p, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1')
const files = sources(tsDir)

test('the sources are there (the checks below would pass vacuously otherwise)', (t) => {
  t.true(files.length > 50, `${files.length} files under ${tsDir}`)
  t.true(files.some((f) => rel(f) === path.join('ts', 'backends', 'native.ts')))
})

test('one file of ts/ reads the wire format: only ts/backends/native.ts uses protocol().kinds, fields, stride, flags.link, resultRingFailed', (t) => {
  const wire = /\.(kinds|fields|stride|resultRingFailed)\b|flags\??\.link\b/
  const users = files.filter((f) => wire.test(code(f))).map(rel)
  t.deepEqual(users, [path.join('ts', 'backends', 'native.ts')])
})

test('no file of ts/ restates a wire number: no OpKind table, no descriptor stride, no RESULT_RING_FAILED value, no descStride()', (t) => {
  const restated = /-1_?000_?000\b|\bdescStride\b|\bDESC_STRIDE\b|\bDESC_FLAG_LINK\b|\bOpKind\b|\bRESULT_RING_FAILED\s*=/
  t.deepEqual(files.filter((f) => restated.test(code(f))).map(rel), [])
})

test('the native limits are numbers in one place only: FALLBACK_LIMITS in ts/native.ts', (t) => {
  // maxSqDepth, maxQueueCapacity, maxFixedBufferSlots, maxTransferBytes (65536 is also a
  // default size class, so maxCqEntries is left out).
  const limits = /\b(32_?768|65_?535|16_?384|0x7fff_?f000|0x7ffff000)\b/
  t.deepEqual(files.filter((f) => limits.test(code(f))).map(rel), [path.join('ts', 'native.ts')])
})

test('nothing below ts/config.ts reads process.env: openIo and the CLI hand it to resolveConfig', (t) => {
  const readers = files.filter((f) => /process\.env/.test(code(f).replace(/resolveConfig\([^)]*process\.env/g, ''))).map(rel)
  const allowed = (f: string) => f === path.join('ts', 'config.ts') || f.startsWith(path.join('ts', 'cli') + path.sep)
  t.deepEqual(readers.filter((f) => !allowed(f)), [])
})

test('ts/io.ts drives backends through the Backend interface only: no instanceof of a backend', (t) => {
  t.notRegex(code(path.join(tsDir, 'io.ts')), /instanceof\s+(NativeBackend|StandardBackend)/)
})

test('ts/ imports nothing from benches/', (t) => {
  t.deepEqual(files.filter((f) => /from\s+['"][./]*benches\/|require\(['"][./]*benches\//.test(code(f))).map(rel), [])
})

test('the broker example is built on the public API only: whatever it imports from ts/ is ts/index', (t) => {
  const example = sources(path.join(root, 'examples', 'kafka-broker'))
  t.true(example.length > 10, 'the example is there')
  const deep = example.flatMap((f) =>
    [...code(f).matchAll(/(?:from\s+|import\s+|require\()['"]([^'"]+)['"]/g)]
      .map((m) => path.relative(root, path.resolve(path.dirname(f), m[1])))
      .filter((target) => target.startsWith(`ts${path.sep}`) && target !== path.join('ts', 'index'))
      .map((target) => `${rel(f)} → ${target}`),
  )
  t.deepEqual(deep, [])
})

test('the package ships no bench code the CLI does not run: every file of ts/cli/bench/ is used by `streamline-io bench`', (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { files: string[] }
  t.false(pkg.files.some((f) => f.includes('benches')), `package.json files: ${pkg.files.join(', ')}`)
  const benchDir = path.join(tsDir, 'cli', 'bench')
  const bench = sources(benchDir)
  const used = new Set<string>(['index'])
  // What index.ts reaches through imports (and node-fs-child.js, which it spawns by path).
  for (let grew = true; grew;) {
    grew = false
    for (const f of bench) {
      const name = path.basename(f, '.ts')
      if (!used.has(name)) continue
      for (const m of code(f).matchAll(/from\s+'\.\/([\w-]+)'|'([\w-]+)\.js'/g)) {
        const dep = m[1] ?? m[2]
        if (!used.has(dep) && fs.existsSync(path.join(benchDir, `${dep}.ts`))) {
          used.add(dep)
          grew = true
        }
      }
    }
  }
  t.deepEqual(bench.map((f) => path.basename(f, '.ts')).filter((n) => !used.has(n)), [])
  t.regex(code(path.join(tsDir, 'cli', 'main.ts')), /import\('\.\/bench'\)/)
})
