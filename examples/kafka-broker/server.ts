// The TCP listener: one Connection per client, and a graceful drain for shutdown — stop
// accepting, let every connection answer what it has in flight (long polls end early
// with what they have), then end the sockets; a connection that does not finish within
// the drain time (a client that stopped reading) is destroyed.
import net from 'node:net'

import { Connection, type ConnectionDeps } from './connection'

export interface ServerOptions extends ConnectionDeps {
  readonly host: string
  /** 0 = an ephemeral port (see `port` once listening). */
  readonly port: number
}

export class BrokerServer {
  private readonly connections = new Set<Connection>()
  private readonly server: net.Server
  private boundPort = 0

  private constructor(private readonly opts: ServerOptions) {
    // allowHalfOpen: a client that shuts its side down still gets the answers it is owed.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket))
  }

  static async listen(opts: ServerOptions): Promise<BrokerServer> {
    const s = new BrokerServer(opts)
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject)
      s.server.listen(opts.port, opts.host, () => {
        s.server.off('error', reject)
        resolve()
      })
    })
    s.server.on('error', (err) => opts.services.logger(`listener error: ${err.message}`))
    const address = s.server.address()
    s.boundPort = typeof address === 'object' && address !== null ? address.port : opts.port
    return s
  }

  get port(): number {
    return this.boundPort
  }

  /** Stops accepting and drains every connection (at most `drainMs`, then destroys the rest). */
  async close(drainMs: number): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()))
    const drained = Promise.all([...this.connections].map((c) => c.drain()))
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), drainMs)))
    if ((await Promise.race([drained, late])) === 'late') {
      for (const c of this.connections) c.close(`still busy ${drainMs} ms into shutdown`)
      await drained
    }
    clearTimeout(timer)
    await stopped
  }

  private accept(socket: net.Socket): void {
    const { metrics } = this.opts
    metrics.connectionsAccepted++
    metrics.connectionsOpen++
    const c = new Connection(socket, this.opts)
    this.connections.add(c)
    void c.done.then(() => {
      this.connections.delete(c)
      metrics.connectionsOpen--
    })
  }
}
