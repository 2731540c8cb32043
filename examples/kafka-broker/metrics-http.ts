// /metrics over HTTP: the Io's Prometheus text (engine, WAL and partition-log metrics)
// followed by the broker's own (requests and latencies per API, connections).
import http from 'node:http'

import type { Io } from '../../ts/index'
import type { BrokerMetrics } from './broker-metrics'

export interface MetricsServer {
  readonly port: number
  close(): Promise<void>
}

export function startMetricsServer(io: Io, broker: BrokerMetrics, host: string, port: number, logger: (line: string) => void): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('only GET /metrics is served here\n')
      return
    }
    let text: string
    try {
      const ioText = io.prometheus()
      text = (ioText === '' || ioText.endsWith('\n') ? ioText : `${ioText}\n`) + broker.prometheus()
    } catch (err) {
      logger(`/metrics failed: ${(err as Error).message}`)
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n')
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text)
  })
  // Scrapers keep connections alive; shutdown must not wait for them.
  server.keepAliveTimeout = 5_000
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      const address = server.address()
      resolve({
        port: typeof address === 'object' && address !== null ? address.port : port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          }),
      })
    })
  })
}
