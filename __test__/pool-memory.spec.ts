// Where io.pool's memory comes from (ts/pool-memory.ts): the addon's aligned native
// memory, and the fallback for runtimes that forbid external buffers (a V8 sandbox
// build), exercised here with an addon whose allocAligned refuses the way Node does.
import test from 'ava'

import { loadAddon, type NativeAddon } from '../ts/native'
import { alignedMemory, plainMemory } from '../ts/pool-memory'

const load = loadAddon()
const addon = load.addon

function refusingAddon(real: NativeAddon, code: string): NativeAddon & { calls: number } {
  const fake = Object.create(real) as NativeAddon & { calls: number }
  fake.calls = 0
  fake.allocAligned = () => {
    fake.calls++
    throw Object.assign(new Error('External buffers are not allowed'), { code })
  }
  return fake
}

if (addon === null) {
  test('pool memory needs the native addon for alignment', (t) => {
    t.fail(`the addon should load in this repository's test run: ${load.addon === null ? load.reason : ''}`)
  })
} else {
  test('aligned memory: page-aligned, zeroed, exactly the size asked', (t) => {
    const m = alignedMemory(addon)
    t.true(m.aligned)
    for (const size of [512, 4096, 65536, 1 << 20]) {
      const b = m.allocate(size)
      t.is(b.byteLength, size)
      t.is(addon.bufferAddress!(b) % 4096, 0, `${size}: page-aligned`)
      t.true(b.every((x) => x === 0), `${size}: zeroed`)
    }
  })

  test('where external buffers are forbidden, memory is cut from an ordinary Buffer at a page boundary (and the addon is asked once)', (t) => {
    const fake = refusingAddon(addon, 'ERR_NAPI_NO_EXTERNAL_BUFFERS')
    const m = alignedMemory(fake)
    const bufs = [4096, 8192, 65536, 4096].map((size) => m.allocate(size))
    t.is(fake.calls, 1, 'after the first refusal the fallback is used directly')
    for (const b of bufs) {
      t.is(addon.bufferAddress!(b) % 4096, 0, 'page-aligned')
      t.true(b.every((x) => x === 0), 'zeroed')
      b.fill(0xab)
    }
    t.deepEqual(bufs.map((b) => b.byteLength), [4096, 8192, 65536, 4096])
    // Separate memory: writing one does not touch another.
    bufs[0].fill(1)
    t.true(bufs[3].every((x) => x === 0xab))
  })

  test('ENOMEM from the addon is not mistaken for a forbidden external buffer', (t) => {
    const m = alignedMemory(refusingAddon(addon, 'ENOMEM'))
    t.throws(() => m.allocate(4096), { code: 'ENOMEM' })
  })
}

test('without the addon: plain zeroed Buffers, not aligned', (t) => {
  const m = plainMemory()
  t.false(m.aligned)
  const b = m.allocate(4096)
  t.is(b.byteLength, 4096)
  t.true(b.every((x) => x === 0))
})
