// Runs fixtures/probe-backend in a child process with the given environment.

import { fixture } from './backends'
import { cleanEnv, lastJson, runNode, summary, type ChildResult } from './child'
import type { IoConfig, KernelInfo } from '../../ts/types'

export interface ProbeResult {
  backend?: 'io_uring' | 'standard'
  fallbackReason?: string | null
  kernel?: KernelInfo
  config?: IoConfig
  degradedOps?: number
  workload?: {
    errors: string[]
    errorCount: number
    diskOk: boolean
    others: Record<string, unknown>
  }
  direct?: Record<string, { ok: boolean; code?: unknown; message?: unknown }>
  fatal?: string
}

export async function probeChild(
  env: Record<string, string>,
  args: { config?: Partial<IoConfig>; dir?: string; ops?: number; dropToNobody?: boolean; tryDirect?: boolean } = {},
): Promise<{ out: ProbeResult; summary: string; code: number | null; raw: ChildResult }> {
  const r = await runNode([fixture('probe-backend'), JSON.stringify(args)], { env: cleanEnv(env), timeoutMs: 60_000 })
  const s = summary(r)
  const out = lastJson<ProbeResult>(r)
  return { out, summary: s, code: r.code, raw: r }
}
