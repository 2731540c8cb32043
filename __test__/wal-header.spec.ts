// The WAL header's format versions (docs/FORMATS.md): version 2 — written now — has a
// CRC over every header byte but the CRC field, so any change to the 4096-byte header is
// damage; version-1 files (CRC over bytes 0..27 only) stay readable, and a non-zero
// reserved byte in one is reported as damage by recovery and by `wal verify`. Tried as a
// user would: the byte is overwritten with node:fs, then the CLI judges the directory.

import fs from 'node:fs'
import path from 'node:path'
import test from 'ava'

import { openWal } from '../ts/index'
import { HEADER_BYTES, encodeHeader } from '../ts/wal/format'
import { backends, openBackend, tmpDir, type BackendName } from './helpers/backends'
import { cleanEnv, runNode } from './helpers/child'
import { walFiles } from './fixtures/wal-lib'

const BIN = path.join(__dirname, '..', '..', 'bin', 'streamline-io')
const uringFlag = (b: BackendName) => ['--enable-io-uring', b === 'io_uring' ? 'true' : 'false']

function poke(file: string, position: number, value: number): void {
  const fd = fs.openSync(file, 'r+')
  try {
    fs.writeSync(fd, Buffer.from([value]), 0, 1, position)
  } finally {
    fs.closeSync(fd)
  }
}

async function makeWal(t: Parameters<typeof tmpDir>[0], backend: BackendName, records: number): Promise<string> {
  const dir = tmpDir(t, 'wal-header-')
  const io = await openBackend(t, backend)
  const wal = await openWal(io, dir, { segmentBytes: 64 * 1024 })
  for (let i = 1; i <= records; i++) await wal.append(Buffer.from(`record ${i}`))
  await wal.close()
  return dir
}

async function lsns(t: Parameters<typeof tmpDir>[0], backend: BackendName, dir: string): Promise<number[]> {
  const io = await openBackend(t, backend)
  const wal = await openWal(io, dir, { readOnly: true })
  const out: number[] = []
  for await (const r of wal.replay()) {
    t.is(r.data.toString(), `record ${r.lsn}`)
    out.push(r.lsn)
  }
  await wal.close()
  return out
}

for (const backend of backends) {
  test(`${backend}: new files carry version 2 and its CRC covers every header byte; a changed padding byte is damage`, async (t) => {
    const dir = await makeWal(t, backend, 5)
    const [file] = walFiles(dir)
    const header = fs.readFileSync(file).subarray(0, HEADER_BYTES)
    t.is(header.readUInt32LE(8), 2, 'format version written')
    let r = await runNode([BIN, 'wal', 'verify', dir, ...uringFlag(backend)], { env: cleanEnv(), timeoutMs: 60_000 })
    t.is(r.code, 0, r.stdout + r.stderr)
    // A byte in the padding, far from every field: version 1 could not see it, version 2 must.
    poke(file, 3000, 0x5a)
    r = await runNode([BIN, 'wal', 'verify', dir, ...uringFlag(backend)], { env: cleanEnv(), timeoutMs: 60_000 })
    t.is(r.code, 1, r.stdout + r.stderr)
    t.regex(r.stdout, /^damaged: .*00000000000000000001\.wal at position 0: header checksum mismatch/m)
    const io = await openBackend(t, backend)
    const e = await t.throwsAsync(openWal(io, dir))
    t.is((e as { code?: string }).code, 'ERR_WAL_CORRUPT')
  })

  test(`${backend}: a version-1 file stays readable and appendable; a non-zero reserved byte in its header is reported as damage`, async (t) => {
    const dir = await makeWal(t, backend, 5)
    const [file] = walFiles(dir)
    // Rewrite the header as a version-1 writer did (CRC over bytes 0..27, zeros after).
    const v1 = encodeHeader(1, 1)
    t.is(v1.readUInt32LE(8), 1)
    fs.writeFileSync(file, Buffer.concat([v1, fs.readFileSync(file).subarray(HEADER_BYTES)]))
    t.deepEqual(await lsns(t, backend, dir), [1, 2, 3, 4, 5], 'version 1 replays')
    let r = await runNode([BIN, 'wal', 'verify', dir, ...uringFlag(backend)], { env: cleanEnv(), timeoutMs: 60_000 })
    t.is(r.code, 0, r.stdout + r.stderr)
    t.regex(r.stdout, /^clean: 1 file\(s\), LSN 1\.\.5/m)
    // Appending to it keeps it version 1 (versions are per file) and readable.
    const io = await openBackend(t, backend)
    const wal = await openWal(io, dir, { segmentBytes: 64 * 1024 })
    t.is(await wal.append(Buffer.from('record 6')), 6)
    await wal.close()
    t.is(fs.readFileSync(file).readUInt32LE(8), 1)
    t.deepEqual(await lsns(t, backend, dir), [1, 2, 3, 4, 5, 6])

    for (const [position, value] of [
      [3000, 0x01],
      [100, 0x80],
      [32, 0xff],
      [4095, 0x10],
    ] as const) {
      const copy = tmpDir(t, 'wal-header-v1-')
      for (const name of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, name), path.join(copy, name))
      const target = walFiles(copy)[0]
      poke(target, position, value)
      r = await runNode([BIN, 'wal', 'verify', copy, ...uringFlag(backend)], { env: cleanEnv(), timeoutMs: 60_000 })
      t.is(r.code, 1, `byte ${position}: ${r.stdout}${r.stderr}`)
      t.regex(r.stdout, new RegExp(`^damaged: .*\\.wal at position 0: non-zero reserved byte 0x${value.toString(16)} at position ${position} of a version-1 header`, 'm'), `byte ${position}`)
      const json = await runNode([BIN, 'wal', 'verify', copy, '--json', ...uringFlag(backend)], { env: cleanEnv(), timeoutMs: 60_000 })
      t.is(json.code, 1)
      t.is((JSON.parse(json.stdout) as { status: string }).status, 'damaged')
      const e = await t.throwsAsync(openWal(io, copy))
      t.is((e as { code?: string }).code, 'ERR_WAL_CORRUPT', `byte ${position}`)
    }
  })
}
