// startBroker: one Io for everything (DESIGN.md §8 "one Io"), the topic store on it, the
// API table, the Kafka listener and the optional /metrics listener; close() undoes them
// in reverse: stop accepting and drain the connections, close the group state, flush and
// close every partition log, then the Io.
import os from 'node:os'

import { loadConfig, openIo, type Io } from '../../ts/index'
import type { BrokerServices } from './apis/api'
import { buildApiTable } from './apis/table'
import { BrokerMetrics } from './broker-metrics'
import { groupApis, openGroups } from './groups/index'
import { startMetricsServer, type MetricsServer } from './metrics-http'
import type { BrokerOptions } from './options'
import { BrokerServer } from './server'
import { DiskTopicStore } from './storage/topics'

/** This broker's id: the only node, every partition's leader, the controller. */
export const NODE_ID = 1
/** How long shutdown waits for in-flight requests before it closes their connections. */
const DRAIN_MS = 10_000

export interface Broker {
  readonly host: string
  readonly port: number
  readonly metricsPort: number | null
  readonly io: Io
  /** Stops accepting, answers what is in flight, flushes and closes the logs and the Io. */
  close(): Promise<void>
}

export interface StartOptions extends BrokerOptions {
  readonly logger?: (line: string) => void
}

function advertisedHostOf(opts: BrokerOptions): string {
  if (opts.advertisedHost !== undefined) return opts.advertisedHost
  // A wildcard address is not somewhere a client can connect to.
  return opts.host === '0.0.0.0' || opts.host === '::' ? os.hostname() : opts.host
}

export async function startBroker(opts: StartOptions): Promise<Broker> {
  const logger = opts.logger ?? ((line: string) => process.stderr.write(`${line}\n`))
  const overrides = opts.backend === undefined ? {} : { enableIoUring: opts.backend === 'io_uring' }
  const io = await openIo(loadConfig(overrides, process.env, [...opts.ioFlags]))
  const undo: Array<() => Promise<void>> = [() => io.close()]
  const unwind = async (): Promise<void> => {
    for (const step of undo.reverse()) await step().catch((err: Error) => logger(`shutdown: ${err.message}`))
  }
  try {
    if (opts.backend === 'io_uring' && io.backend !== 'io_uring') logger(`io_uring was asked for but is unavailable: ${io.fallbackReason}; using the standard backend`)
    const topics = await DiskTopicStore.open(io, {
      dir: opts.dir,
      defaultPartitions: opts.partitions,
      segmentBytes: opts.segmentBytes,
      retentionMs: opts.retentionMs,
      retentionBytes: opts.retentionBytes,
      retentionCheckMs: opts.retentionCheckMs,
      logger,
    })
    undo.push(() => topics.close())
    // Committed offsets and producer ids, durable in dir/@broker-state, and the coordinator.
    const groups = await openGroups(io, opts.dir, {
      logger,
      initialRebalanceDelayMs: opts.groupInitialRebalanceDelayMs,
      minSessionTimeoutMs: opts.groupMinSessionTimeoutMs,
    })
    undo.push(() => groups.close())
    const metrics = new BrokerMetrics()
    const table = buildApiTable(groupApis)
    // The advertised port is the bound one, known only after listen: services is filled in then.
    const services: { -readonly [K in keyof BrokerServices]: BrokerServices[K] } = {
      nodeId: NODE_ID,
      advertisedHost: advertisedHostOf(opts),
      advertisedPort: opts.port,
      topics,
      groups: groups.groups,
      producerIds: groups.producerIds,
      logger,
    }
    const server = await BrokerServer.listen({ host: opts.host, port: opts.port, table, services, metrics, maxFrameBytes: opts.maxFrameBytes })
    services.advertisedPort = server.port
    undo.push(() => server.close(DRAIN_MS))
    let metricsServer: MetricsServer | null = null
    if (opts.metricsPort !== null) {
      metricsServer = await startMetricsServer(io, metrics, opts.host, opts.metricsPort, logger)
      undo.push(() => metricsServer!.close())
    }
    logger(`broker on ${opts.host}:${server.port}, ${io.backend} backend${io.fallbackReason !== null ? ` (${io.fallbackReason})` : ''}, ${topics.list().length} topic(s) in ${opts.dir}`)
    let closing: Promise<void> | null = null
    return {
      host: opts.host,
      port: server.port,
      metricsPort: metricsServer?.port ?? null,
      io,
      close: () => (closing ??= unwind()),
    }
  } catch (err) {
    await unwind()
    throw err
  }
}
