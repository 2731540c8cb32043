// TopicStore on disk: one partition log per topic-partition in `<dir>/<topic>-<partition>/`
// (Kafka's layout), reopened at start, auto-created with the default partition count,
// retention applied on a schedule. Every log uses sync 'always', so an append resolves
// only once durable: Produce with acks 1 and −1 answers after that (DESIGN.md §8).
import fs from 'node:fs'
import path from 'node:path'

import { openLog, type Io, type LogOptions, type PartitionLog } from '../../../ts/index'
import type { TopicStore } from '../apis/api'
import { checkTopicName, parsePartitionDirName, partitionDirName } from './topic-names'

export interface TopicStoreOptions {
  readonly dir: string
  /** Partitions of an auto-created topic. */
  readonly defaultPartitions: number
  readonly segmentBytes?: number
  readonly retentionMs?: number
  readonly retentionBytes?: number
  /** How often the retention pass runs; 0 = never. */
  readonly retentionCheckMs: number
  readonly logger: (line: string) => void
}

export class DiskTopicStore implements TopicStore {
  private readonly topics = new Map<string, PartitionLog[]>()
  /** Creations under way, so concurrent auto-creates of one topic open its logs once. */
  private readonly creating = new Map<string, Promise<number>>()
  private retentionTimer: NodeJS.Timeout | null = null
  private retentionRunning: Promise<void> | null = null
  private closed = false

  private constructor(
    private readonly io: Io,
    private readonly opts: TopicStoreOptions,
  ) {}

  /** Opens (recovering) every partition directory under `opts.dir`. */
  static async open(io: Io, opts: TopicStoreOptions): Promise<DiskTopicStore> {
    const store = new DiskTopicStore(io, opts)
    await fs.promises.mkdir(opts.dir, { recursive: true })
    const found = new Map<string, number>()
    for (const entry of await fs.promises.readdir(opts.dir, { withFileTypes: true })) {
      const parsed = entry.isDirectory() ? parsePartitionDirName(entry.name) : null
      if (parsed === null) continue
      found.set(parsed.topic, Math.max(found.get(parsed.topic) ?? 0, parsed.partition + 1))
    }
    try {
      for (const [topic, partitions] of [...found].sort(([a], [b]) => (a < b ? -1 : 1))) {
        // A missing partition directory in the middle (deleted by hand) is recreated
        // empty: a topic's partitions are always 0..n−1.
        store.topics.set(topic, await store.openPartitions(topic, partitions))
      }
    } catch (err) {
      await store.close().catch(() => undefined)
      throw err
    }
    if (opts.retentionCheckMs > 0) {
      store.retentionTimer = setInterval(() => store.runRetention(), opts.retentionCheckMs)
      store.retentionTimer.unref()
    }
    return store
  }

  list(): ReadonlyArray<{ readonly name: string; readonly partitions: number }> {
    return [...this.topics].map(([name, logs]) => ({ name, partitions: logs.length })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  partitions(topic: string): number | null {
    return this.topics.get(topic)?.length ?? null
  }

  log(topic: string, partition: number): PartitionLog | null {
    return this.topics.get(topic)?.[partition] ?? null
  }

  ensure(topic: string): Promise<number> {
    const existing = this.topics.get(topic)
    if (existing !== undefined) return Promise.resolve(existing.length)
    const pending = this.creating.get(topic)
    if (pending !== undefined) return pending
    const created = this.create(topic).finally(() => this.creating.delete(topic))
    this.creating.set(topic, created)
    return created
  }

  /** One retention pass over every log now; resolves the segments deleted. */
  async applyRetention(): Promise<number> {
    let deleted = 0
    for (const [topic, logs] of this.topics) {
      for (const [partition, log] of logs.entries()) {
        try {
          const n = await log.applyRetention()
          if (n > 0) this.opts.logger(`retention: deleted ${n} segment(s) of ${partitionDirName(topic, partition)}`)
          deleted += n
        } catch (err) {
          this.opts.logger(`retention: ${partitionDirName(topic, partition)} failed: ${(err as Error).message}`)
        }
      }
    }
    return deleted
  }

  /** Stops the schedule, waits for a running pass, then flushes and closes every log. */
  async close(): Promise<void> {
    this.closed = true
    if (this.retentionTimer !== null) clearInterval(this.retentionTimer)
    await this.retentionRunning
    await Promise.allSettled([...this.creating.values()])
    const failures: string[] = []
    await Promise.all(
      [...this.topics].flatMap(([topic, logs]) =>
        logs.map((log, partition) =>
          log.close().catch((err: Error) => {
            failures.push(`${partitionDirName(topic, partition)}: ${err.message}`)
          }),
        ),
      ),
    )
    this.topics.clear()
    if (failures.length > 0) throw new Error(`closing the partition logs failed: ${failures.join('; ')}`)
  }

  private runRetention(): void {
    // A pass slower than the interval is not stacked on itself.
    if (this.retentionRunning !== null || this.closed) return
    this.retentionRunning = this.applyRetention()
      .then(() => undefined)
      .finally(() => (this.retentionRunning = null))
  }

  private async create(topic: string): Promise<number> {
    checkTopicName(topic)
    if (this.closed) throw new Error(`the topic store is closed; ${topic} was not created`)
    const logs = await this.openPartitions(topic, this.opts.defaultPartitions)
    this.topics.set(topic, logs)
    this.opts.logger(`created topic ${topic} with ${logs.length} partition(s)`)
    return logs.length
  }

  private async openPartitions(topic: string, count: number): Promise<PartitionLog[]> {
    const logs: PartitionLog[] = []
    try {
      for (let p = 0; p < count; p++) logs.push(await openLog(this.io, path.join(this.opts.dir, partitionDirName(topic, p)), this.logOptions()))
    } catch (err) {
      await Promise.allSettled(logs.map((l) => l.close()))
      throw err
    }
    return logs
  }

  private logOptions(): LogOptions {
    const o: LogOptions = { sync: 'always' }
    if (this.opts.segmentBytes !== undefined) o.segmentBytes = this.opts.segmentBytes
    if (this.opts.retentionMs !== undefined) o.retentionMs = this.opts.retentionMs
    if (this.opts.retentionBytes !== undefined) o.retentionBytes = this.opts.retentionBytes
    return o
  }
}
