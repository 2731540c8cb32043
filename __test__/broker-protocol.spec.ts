// The broker example's own protocol code in-process (no sockets): each primitive codec
// round-trips and refuses truncated or dishonest input with a ProtocolError (never a
// RangeError from Buffer, never a read into the next frame); framing cuts frames across
// chunk boundaries and refuses oversized lengths before buffering them; request headers
// v1/v2; topic names as Kafka validates them; the CLI's clear errors.
import test from 'ava'

import { buildApiTable } from '../examples/kafka-broker/apis/table'
import { FrameBuffer } from '../examples/kafka-broker/frames'
import { parseBrokerArgs, UsageError } from '../examples/kafka-broker/options'
import { decodeRequestHeader, encodeResponseHead, responseHeaderVersion } from '../examples/kafka-broker/protocol/header'
import { BufferReader } from '../examples/kafka-broker/protocol/reader'
import { ProtocolError } from '../examples/kafka-broker/protocol/types'
import { BufferWriter } from '../examples/kafka-broker/protocol/writer'
import { parsePartitionDirName, topicNameProblem } from '../examples/kafka-broker/storage/topic-names'

test('every primitive round-trips through BufferWriter and BufferReader', (t) => {
  const uuid = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
  const w = new BufferWriter(16) // small: growth is exercised too
  w.int8(-128).int16(-2).int32(-3).uint32(0xfffffffe).int64(-1).int64(2 ** 53 - 1).int64(-(2 ** 53 - 1)).boolean(true).boolean(false)
  w.varint(-1).varint(2147483647).varint(-2147483648).varlong(-(2 ** 40)).varlong(2 ** 52 - 1).varlong(-(2 ** 52)).uvarint(0).uvarint(300).uvarint(0xffffffff)
  w.uuid(uuid).string('héllo').nullableString(null).compactString('').compactNullableString(null).compactNullableString('x')
  w.bytes(Buffer.from([1, 2])).nullableBytes(null).compactBytes(Buffer.from([3])).compactNullableBytes(null)
  w.array([1, 2, 3], (iw, v) => iw.int16(v)).compactArray(['a', 'b'], (iw, v) => iw.compactString(v)).taggedFields()
  const r = new BufferReader(w.finish())
  t.deepEqual([r.int8(), r.int16(), r.int32(), r.uint32(), r.int64(), r.int64(), r.int64(), r.boolean(), r.boolean()], [-128, -2, -3, 0xfffffffe, -1, 2 ** 53 - 1, -(2 ** 53 - 1), true, false])
  t.deepEqual([r.varint(), r.varint(), r.varint(), r.varlong(), r.varlong(), r.varlong(), r.uvarint(), r.uvarint(), r.uvarint()], [-1, 2147483647, -2147483648, -(2 ** 40), 2 ** 52 - 1, -(2 ** 52), 0, 300, 0xffffffff])
  t.true(r.uuid().equals(uuid))
  t.deepEqual([r.string(), r.nullableString(), r.compactString(), r.compactNullableString(), r.compactNullableString()], ['héllo', null, '', null, 'x'])
  t.deepEqual([r.bytes(), r.nullableBytes(), r.compactBytes(), r.compactNullableBytes()], [Buffer.from([1, 2]), null, Buffer.from([3]), null])
  t.deepEqual(r.array((ir) => ir.int16()), [1, 2, 3])
  t.deepEqual(r.compactArray((ir) => ir.compactString()), ['a', 'b'])
  r.taggedFields()
  t.is(r.remaining, 0)
})

test('BufferWriter grows at any field: the same bytes whatever its first size', (t) => {
  // A field that starts past the end makes the writer replace its buffer; each field
  // must write into the new one (a write into the old one is lost, or a RangeError).
  const encode = (initial: number): Buffer => {
    const w = new BufferWriter(initial)
    w.int8(1).int16(2).int32(3).uint32(4).int64(5).boolean(true).varint(-300).varlong(2 ** 40).uvarint(70_000)
    w.uuid(Buffer.alloc(16, 7)).string('topic-é').nullableString('n').compactString('cs').compactNullableString('cn')
    w.bytes(Buffer.alloc(40, 8)).nullableBytes(Buffer.alloc(3, 9)).compactBytes(Buffer.alloc(5, 10)).compactNullableBytes(Buffer.alloc(2, 11))
    w.array([1, 2], (iw, v) => iw.int32(v)).taggedFields()
    return Buffer.from(w.finish())
  }
  const expected = encode(4096)
  for (let initial = 16; initial <= expected.length + 1; initial++) {
    t.true(encode(initial).equals(expected), `first size ${initial}`)
  }
})

test('known encodings: zig-zag varints and INT64 −1 match the Kafka protocol guide', (t) => {
  t.deepEqual([...new BufferWriter().varint(-1).varint(1).varint(-64).varint(64).finish()], [0x01, 0x02, 0x7f, 0x80, 0x01])
  t.is(new BufferWriter().int64(-1).finish().toString('hex'), 'ffffffffffffffff')
  t.is(new BufferWriter().int64(2 ** 32 + 5).finish().toString('hex'), '0000000100000005')
})

test('truncated or dishonest input is a ProtocolError naming what was short', (t) => {
  const cases: Array<[string, Buffer, (r: BufferReader) => unknown]> = [
    ['int32 of 3 bytes', Buffer.from([0, 0, 1]), (r) => r.int32()],
    ['string longer than the frame', Buffer.from([0, 5, 0x61]), (r) => r.string()],
    ['null where not nullable', Buffer.from([0xff, 0xff]), (r) => r.string()],
    ['bytes with length −2', Buffer.from([0xff, 0xff, 0xff, 0xfe]), (r) => r.nullableBytes()],
    ['array count past the bytes left', Buffer.from([0x7f, 0xff, 0xff, 0xff]), (r) => r.array((ir) => ir.int8())],
    ['varint without an end', Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), (r) => r.uvarint()],
    ['int64 past 2^53', Buffer.from('0020000000000000', 'hex'), (r) => r.int64()],
    ['tagged fields out of order', Buffer.from([2, 1, 0, 0, 0]), (r) => r.taggedFields()],
  ]
  for (const [what, bytes, read] of cases) {
    const e = t.throws(() => read(new BufferReader(bytes)), { instanceOf: ProtocolError }, what)
    t.truthy(e?.message, what)
  }
  // A reader over part of a buffer never reads past its end into what follows.
  const r = new BufferReader(Buffer.from([0, 0, 0, 1, 0, 0, 0, 2]), 0, 6)
  t.is(r.int32(), 1)
  t.throws(() => r.int32(), { instanceOf: ProtocolError })
})

test('FrameBuffer cuts frames across chunks and refuses an oversized length before it is buffered', (t) => {
  const fb = new FrameBuffer(16)
  const frame = (body: number[]): number[] => [0, 0, 0, body.length, ...body]
  const bytes = Buffer.from([...frame([1, 2, 3]), ...frame([]), ...frame([4, 5, 6, 7, 8])])
  for (let i = 0; i < bytes.length; i += 3) fb.push(bytes.subarray(i, i + 3))
  const got: number[][] = []
  for (let n = fb.next(); n.kind === 'frame'; n = fb.next()) got.push([...n.frame])
  t.deepEqual(got, [[1, 2, 3], [], [4, 5, 6, 7, 8]])
  t.is(fb.bufferedBytes, 0)
  fb.push(Buffer.from([0, 0, 0, 17]))
  t.deepEqual(fb.next(), { kind: 'too-large', length: 17 })
  const negative = new FrameBuffer(16)
  negative.push(Buffer.from([0xff, 0xff, 0xff, 0xff]))
  t.deepEqual(negative.next(), { kind: 'too-large', length: -1 })
})

test('request header v1 and v2 (flexible) decode; ApiVersions answers with header v0 even when flexible', (t) => {
  const table = buildApiTable([])
  const v1 = new BufferWriter().int16(3).int16(8).int32(77).nullableString('me').int32(-1).finish()
  const a = decodeRequestHeader(v1, table.isFlexible)
  t.deepEqual(a.header, { apiKey: 3, apiVersion: 8, correlationId: 77, clientId: 'me' })
  t.false(a.flexible)
  t.is(a.body.int32(), -1)
  const v2 = new BufferWriter().int16(18).int16(3).int32(78).nullableString(null).taggedFields().compactString('kcat').finish()
  const b = decodeRequestHeader(v2, table.isFlexible)
  t.true(b.flexible)
  t.is(b.header.clientId, null)
  t.is(b.body.compactString(), 'kcat')
  t.is(responseHeaderVersion(18, true), 0)
  t.is(responseHeaderVersion(3, true), 1)
  t.is(encodeResponseHead(5, 0, 10).toString('hex'), '0000000e00000005')
  t.is(encodeResponseHead(5, 1, 10).toString('hex'), '0000000f0000000500')
  t.throws(() => decodeRequestHeader(Buffer.from([0, 1, 0]), table.isFlexible), { instanceOf: ProtocolError })
  t.throws(() => buildApiTable([{ key: 3, name: 'Dup', minVersion: 0, maxVersion: 0, flexibleFrom: null, handle: () => Promise.resolve({ kind: 'none' }) }]), { message: /registered twice/ })
})

test('topic names are validated as Kafka does, so no name leaves --dir', (t) => {
  for (const ok of ['a', 'A.b_c-9', 'x'.repeat(249)]) t.is(topicNameProblem(ok), null, ok)
  for (const bad of ['', '.', '..', 'x'.repeat(250), 'a/b', '../etc', 'a b', 'ü', '@broker-state']) t.not(topicNameProblem(bad), null, JSON.stringify(bad))
  t.deepEqual(parsePartitionDirName('my-topic-12'), { topic: 'my-topic', partition: 12 })
  t.is(parsePartitionDirName('@broker-state'), null)
  t.is(parsePartitionDirName('topic-01'), null)
})

test('CLI flags: defaults, both value forms, and clear errors', (t) => {
  const r = parseBrokerArgs(['--dir', '/d', '--port=0', '--partitions', '3', '--backend', 'standard', '--io-queue-depth', '64'])
  if (r.kind !== 'options') return t.fail('expected options')
  t.like(r.options, { dir: '/d', port: 0, partitions: 3, backend: 'standard', host: '127.0.0.1', metricsPort: null, maxFrameBytes: 100 * 1024 * 1024 })
  t.deepEqual(r.options.ioFlags, ['--io-queue-depth', '64'])
  t.deepEqual(parseBrokerArgs(['--help']), { kind: 'help' })
  const bad: Array<[string[], RegExp]> = [
    [[], /--dir is required/],
    [['--dir', 'd', '--port', '70000'], /--port: 70000 is outside 0\.\.65535/],
    [['--dir', 'd', '--port', 'x'], /not a whole number/],
    [['--dir', 'd', '--backend', 'uring'], /--backend: "uring" is not io_uring or standard/],
    [['--dir', 'd', '--bogus', '1'], /unknown flag --bogus/],
    [['--dir', 'd', '--dir', 'e'], /--dir is given twice/],
    [['--dir'], /--dir needs a value/],
    [['--dir', 'd', '--partitions', '0'], /--partitions: 0 is outside/],
  ]
  for (const [argv, message] of bad) t.throws(() => parseBrokerArgs(argv), { instanceOf: UsageError, message }, argv.join(' '))
})
