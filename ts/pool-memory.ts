// Where io.pool's memory comes from (ts/pool.ts): page-aligned native memory when the
// addon is loaded, ordinary zeroed Buffers when it is not.
import type { NativeAddon } from './native'
import type { PoolMemory } from './pool'

const PAGE_BYTES = 4096

/**
 * Page-aligned memory from the addon. Where the runtime forbids external buffers (a V8
 * sandbox build), an ordinary Buffer one page larger is cut at a page boundary instead.
 */
export function alignedMemory(addon: NativeAddon, registration: Pick<PoolMemory, 'register' | 'unregister'> = {}): PoolMemory {
  const { allocAligned, bufferAddress } = addon
  let external = typeof allocAligned === 'function'
  return {
    aligned: true,
    allocate(size: number): Buffer {
      if (external) {
        try {
          return allocAligned!.call(addon, size)
        } catch (err) {
          if ((err as { code?: string }).code === 'ENOMEM' || bufferAddress === undefined) throw err
          external = false
        }
      }
      const raw = Buffer.alloc(size + PAGE_BYTES)
      const pad = (PAGE_BYTES - (bufferAddress!.call(addon, raw) % PAGE_BYTES)) % PAGE_BYTES
      return raw.subarray(pad, pad + size)
    },
    ...registration,
  }
}

/** Without the addon: zeroed Buffers, no alignment (and so no O_DIRECT). */
export function plainMemory(): PoolMemory {
  return { aligned: false, allocate: (size) => Buffer.alloc(size) }
}
