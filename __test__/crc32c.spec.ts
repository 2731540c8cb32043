// crc32c(): the standard CRC-32C check values, chaining, and the native path agreeing
// with the table path on random data.
import test from 'ava'

import { crc32c } from '../ts/index'
import { crc32cTable } from '../ts/crc32c'
import { randomBytes } from './helpers/backends'

test('crc32c matches the standard check values (RFC 3720 B.4, "123456789")', (t) => {
  t.is(crc32c(Buffer.from('123456789')), 0xe3069283)
  t.is(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa)
  t.is(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43)
  t.is(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e)
  t.is(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c)
  t.is(crc32c(new Uint8Array(0)), 0)
})

test('crc32c chains: crc32c(b, crc32c(a)) === crc32c(a ‖ b), at every split of random data', (t) => {
  const data = randomBytes(5000, 42)
  const whole = crc32c(data)
  for (const split of [0, 1, 7, 8, 63, 64, 65, 1000, 4999, 5000]) {
    t.is(crc32c(data.subarray(split), crc32c(data.subarray(0, split))), whole, `split ${split}`)
  }
})

test('crc32c (native where present) agrees with the table implementation on random lengths', (t) => {
  for (let i = 0; i < 200; i++) {
    const data = randomBytes((i * 7919) % 70_000, i)
    const prev = (i * 2654435761) >>> 0
    t.is(crc32c(data, prev), crc32cTable(data, prev), `length ${data.length}`)
  }
})

test('crc32c rejects bad input with TypeError/RangeError', (t) => {
  t.throws(() => crc32c('abc' as unknown as Uint8Array), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => crc32c(Buffer.alloc(1), -1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => crc32c(Buffer.alloc(1), 2 ** 32), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => crc32c(Buffer.alloc(1), '1' as unknown as number), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
})
