// A partition log's directory, as Kafka lays it out (DESIGN.md §5):
//   <base offset, 20 digits>.log        the segment's RecordBatch v2 bytes
//   <base offset, 20 digits>.index      its offset index
//   <base offset, 20 digits>.timeindex  its time index
//   *.deleted                           a segment deleted by retention, unlinked once no
//                                       reader holds it (any left at open are removed)
//   .kafka_cleanshutdown                written by close(), removed at open: without it the
//                                       active segment is recovered (Kafka's marker name)
//   .lock                               the writer lock (flock, or a pid lock file)
// Any other name is ignored (Kafka's leader-epoch-checkpoint, partition.metadata, …).
import fs from 'node:fs'
import path from 'node:path'

export const LOG_SUFFIX = '.log'
export const INDEX_SUFFIX = '.index'
export const TIME_INDEX_SUFFIX = '.timeindex'
export const DELETED_SUFFIX = '.deleted'
export const CLEAN_SHUTDOWN_NAME = '.kafka_cleanshutdown'
export const LOG_LOCK_NAME = '.lock'

const LOG_NAME_RE = /^(\d{20})\.log$/

export function baseName(baseOffset: number): string {
  return String(baseOffset).padStart(20, '0')
}

export interface SegmentPaths {
  log: string
  index: string
  timeIndex: string
}

export function segmentPaths(dir: string, baseOffset: number): SegmentPaths {
  const stem = path.join(dir, baseName(baseOffset))
  return { log: stem + LOG_SUFFIX, index: stem + INDEX_SUFFIX, timeIndex: stem + TIME_INDEX_SUFFIX }
}

/** The base offsets of the segments in `dir` (sorted), and the leftovers of deletions. */
export async function listSegments(dir: string): Promise<{ bases: number[]; deleted: string[] }> {
  const bases: number[] = []
  const deleted: string[] = []
  for (const name of await fs.promises.readdir(dir)) {
    const m = LOG_NAME_RE.exec(name)
    if (m) {
      const base = Number(m[1])
      if (Number.isSafeInteger(base)) bases.push(base)
    } else if (name.endsWith(DELETED_SUFFIX)) deleted.push(path.join(dir, name))
  }
  bases.sort((a, b) => a - b)
  return { bases, deleted }
}
