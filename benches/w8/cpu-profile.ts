// Where the broker's JavaScript thread spends its time, from a V8 `.cpuprofile` (node
// --cpu-prof): self time summed per part of the broker — its protocol codec, its API
// handlers, its connection code, the storage library, Node's own JavaScript, native
// calls, GC, idle. A sample's self time is the time delta V8 recorded before it.
// Threads other than the JS thread (the ring thread, io-wq, libuv's pool) are not in a
// cpuprofile; W8's broker CPU figure from /proc covers them.
import fs from 'node:fs'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
}
interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileSummary {
  /** Microseconds sampled, idle included. */
  totalUs: number
  /** Part of the broker → share of the non-idle time (0..1). */
  parts: Array<{ part: string; us: number; share: number }>
  /** The functions with the most self time (non-idle share). */
  top: Array<{ fn: string; us: number; share: number }>
}

/** Which part of the process a frame belongs to. */
export function partOf(frame: CallFrame): string {
  const { url, functionName } = frame
  if (functionName === '(idle)') return 'idle'
  if (functionName === '(garbage collector)') return 'GC'
  if (functionName === '(program)') return 'V8 and native, unattributed'
  if (url.includes('/examples/kafka-broker/protocol/')) return 'broker: protocol codec'
  if (url.includes('/examples/kafka-broker/apis/')) return 'broker: API handlers'
  if (url.includes('/examples/kafka-broker/')) return 'broker: connections, frames, groups'
  if (url.includes('/ts/log/')) return 'library: partition log'
  if (url.includes('/ts/')) return 'library: Io, backends, metrics'
  if (url.startsWith('node:')) return 'Node core JS: net, streams, buffer, promises'
  if (url === '') return 'native calls (addon, Node bindings, builtins)'
  return 'other JavaScript'
}

export function summarizeProfile(file: string, topN = 12): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map<number, ProfileNode>()
  for (const n of profile.nodes) byId.set(n.id, n)
  const perNode = new Map<number, number>()
  let totalUs = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i] ?? 0
    totalUs += us
    perNode.set(profile.samples[i], (perNode.get(profile.samples[i]) ?? 0) + us)
  }
  const parts = new Map<string, number>()
  const fns = new Map<string, number>()
  let busyUs = 0
  for (const [id, us] of perNode) {
    const node = byId.get(id)
    if (node === undefined) continue
    const part = partOf(node.callFrame)
    parts.set(part, (parts.get(part) ?? 0) + us)
    if (part === 'idle') continue
    busyUs += us
    const where = node.callFrame.url === '' ? '' : ` ${node.callFrame.url.replace(/^.*\/dist\//, '').replace(/^file:\/\//, '')}:${node.callFrame.lineNumber + 1}`
    const fn = `${node.callFrame.functionName || '(anonymous)'}${where}`
    fns.set(fn, (fns.get(fn) ?? 0) + us)
  }
  const share = (us: number) => (busyUs > 0 ? us / busyUs : 0)
  return {
    totalUs,
    parts: [...parts].map(([part, us]) => ({ part, us, share: part === 'idle' ? us / Math.max(1, totalUs) : share(us) })).sort((a, b) => b.us - a.us),
    top: [...fns]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([fn, us]) => ({ fn, us, share: share(us) })),
  }
}
