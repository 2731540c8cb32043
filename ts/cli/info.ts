// streamline-io info: what this machine offers and what the library would do with it.
import { CONFIG_FLAGS } from '../config'
import { openIo } from '../io'
import type { IoConfig } from '../types'
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
      config: Object.fromEntries(
        (Object.keys(ctx.config) as Array<keyof IoConfig>).map((key) => [key, { value: ctx.config[key], source: ctx.sources[key] }]),
      ),
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
  lines.push('config')
  for (const [key, { value, source }] of Object.entries(report.config)) {
    const shown = Array.isArray(value) ? value.join(',') : String(value)
    const where = source === 'flag' ? `flag ${flagOf.get(key as keyof IoConfig)}` : source
    lines.push(`  ${key.padEnd(17)}${shown.padEnd(20)}${where}`)
  }
  ctx.out(lines.join('\n'))
  return 0
}
