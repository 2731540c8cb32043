// streamline-io info: what this machine offers and what the library would do with it —
// the kernel's io_uring (probe), the rings actually set up (setup flags in use, features,
// fixed-file and buffer tables and why the kernel refused one), the config with the
// source of every value, the environment-only settings (engine mode, test hooks) and the
// limits the native-layer settings were checked against.
import { CONFIG_FLAGS } from '../config'
import { openIo } from '../io'
import type { IoConfig, RingReport, RingSetup } from '../types'
import type { CliContext } from './main'

const flagOf = new Map([...CONFIG_FLAGS].map(([flag, key]) => [key, flag]))

export async function info(ctx: CliContext): Promise<number> {
  const io = await openIo(ctx.config)
  let report
  try {
    report = {
      kernel: { release: io.kernel.release },
      ioUring: {
        available: io.kernel.ioUring,
        opcodes: [...io.kernel.opcodes],
        features: [...io.kernel.features],
      },
      backend: io.backend,
      fallbackReason: io.fallbackReason,
      ring: io.kernel.ring,
      config: Object.fromEntries(
        (Object.keys(ctx.config) as Array<keyof IoConfig>).map((key) => [key, { value: ctx.config[key], source: ctx.sources[key] }]),
      ),
      environment: Object.fromEntries(
        (Object.keys(ctx.env.values) as Array<keyof typeof ctx.env.values>).map((key) => [
          key,
          { value: ctx.env.values[key], source: ctx.env.sources[key], variable: ctx.env.variables[key] },
        ]),
      ),
      limits: { from: ctx.limits.from, ...ctx.limits.values },
    }
  } finally {
    await io.close()
  }
  if (ctx.args.flags.has('--json')) {
    ctx.out(JSON.stringify(report, null, 2))
    return 0
  }
  const lines: string[] = []
  lines.push(`kernel     ${report.kernel.release}`)
  lines.push(`io_uring   ${report.ioUring.available ? 'available' : 'not available'}`)
  lines.push(`backend    ${report.backend}${report.fallbackReason === null ? '' : ` (io_uring not used: ${report.fallbackReason})`}`)
  lines.push(`opcodes    ${report.ioUring.opcodes.length > 0 ? report.ioUring.opcodes.join(', ') : '(none probed)'}`)
  lines.push(`features   ${report.ioUring.features.length > 0 ? report.ioUring.features.join(', ') : '(none probed)'}`)
  if (report.ring !== null) lines.push(...ringLines(report.ring))
  lines.push('config')
  for (const [key, { value, source }] of Object.entries(report.config)) {
    const shown = Array.isArray(value) ? value.join(',') : String(value)
    const where = source === 'flag' ? `flag ${flagOf.get(key as keyof IoConfig)}` : source
    lines.push(`  ${key.padEnd(17)}${shown.padEnd(20)}${where}`)
  }
  lines.push('environment')
  for (const { value, source, variable } of Object.values(report.environment)) {
    lines.push(`  ${variable.padEnd(35)}${String(value).padEnd(20)}${source}`)
  }
  lines.push(`limits     ${report.limits.from === 'addon' ? "the native addon's protocol()" : 'the documented fallback (no native addon)'}`)
  lines.push(`  maxSqDepth ${report.limits.maxSqDepth}, maxCqEntries ${report.limits.maxCqEntries}, maxQueueCapacity ${report.limits.maxQueueCapacity}, maxAlignedBytes ${report.limits.maxAlignedBytes}`)
  ctx.out(lines.join('\n'))
  return 0
}

function ringLines(ring: RingSetup): string[] {
  const r = ring.requested
  const lines = [
    `engine     ${ring.engine} (${ring.engineSource === 'env' ? 'STREAMLINE_IO_ENGINE' : 'default'})`,
    `requested  sq ${r.sqEntries}, cq ${r.cqEntries}, queue ${r.queueCapacity}, fixed files ${r.fixedFileSlots}, fixed buffers ${r.fixedBufferSlots}${r.sqpoll ? ', sqpoll' : ''}`,
  ]
  if (ring.rings === null) {
    lines.push(`ring       (not reported: ${ring.unreported ?? 'unknown'})`)
    return lines
  }
  ring.rings.forEach((x: RingReport, i) => {
    const name = ring.rings!.length === 1 ? 'ring' : `ring ${i}`
    const table = (t: RingReport['fixedFiles']) => (t.refused === null ? `${t.slots} slots` : `refused: ${t.refused}`)
    lines.push(`${name.padEnd(11)}sq ${x.sqEntries}, cq ${x.cqEntries}; setup flags ${x.setupFlags.length > 0 ? x.setupFlags.join(', ') : '(none)'}`)
    lines.push(`           features ${x.features.length > 0 ? x.features.join(', ') : '(none)'}`)
    lines.push(`           fixed files ${table(x.fixedFiles)}; fixed buffers ${table(x.fixedBuffers)}; ftruncate ${x.ftruncateOp ? 'IORING_OP_FTRUNCATE' : 'ftruncate(2)'}`)
  })
  return lines
}
