// A partition log's directory as the tests see it: its segments by the names of their
// .log files (Kafka's 20-digit base offsets), oldest first, with their index files.
import fs from 'node:fs'
import path from 'node:path'

export interface SegmentFiles {
  base: number
  log: string
  index: string
  timeIndex: string
}

export function segmentFiles(dir: string): SegmentFiles[] {
  return fs
    .readdirSync(dir)
    .filter((n) => /^\d{20}\.log$/.test(n))
    .sort()
    .map((n) => {
      const stem = path.join(dir, n.slice(0, 20))
      return { base: Number(n.slice(0, 20)), log: `${stem}.log`, index: `${stem}.index`, timeIndex: `${stem}.timeindex` }
    })
}
