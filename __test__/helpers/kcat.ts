// Debian's kcat (librdkafka) as the broker tests' independent client: what it consumes
// is judged by librdkafka's decoder, with CRC checks on. .ci/run installs it.

import { execFile, execFileSync } from 'node:child_process'

/** null when kcat is installed, else why the kcat tests cannot run and how to fix it. */
export function kcatMissing(): string | null {
  try {
    execFileSync('kcat', ['-V'], { stdio: 'ignore' })
    return null
  } catch {
    return "kcat is not installed: 'apt-get install kcat' (.ci/run does)"
  }
}

export interface KcatMessage {
  partition: number
  offset: number
  key: string
  value: string
}

// Fields are separated by unit/record separators, which the tests' keys and values never hold.
const FS = '\x1f'
const RS = '\x1e'

/**
 * Consumes every message of `topic` from the beginning to the end (-e) with CRC checks,
 * as kcat's consumer sees them.
 */
export function kcatConsumeAll(port: number, topic: string, timeoutMs = 60_000): Promise<KcatMessage[]> {
  return new Promise((resolve, reject) => {
    execFile(
      'kcat',
      ['-b', `127.0.0.1:${port}`, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-X', 'check.crcs=true', '-f', `%p${FS}%o${FS}%k${FS}%s${RS}`],
      { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) return reject(Object.assign(err, { stdout, stderr }))
        const out = stdout
          .split(RS)
          .filter((r) => r.length > 0)
          .map((r) => {
            const [p, o, k, v] = r.split(FS)
            return { partition: Number(p), offset: Number(o), key: k, value: v }
          })
        resolve(out)
      },
    )
  })
}
