// One client connection: frames in, responses out in request order. Requests are decoded
// and handed to their handler as they arrive (a Fetch long poll does not hold up the
// Produce behind it), but Kafka clients match responses by order as well as correlation
// id, so each response waits for the ones before it: a promise chain, `tail`. A request
// Kafka would refuse — an oversized or malformed frame, an unknown API, an unsupported
// version (ApiVersions aside) — closes this connection with the reason logged; the
// others are untouched.
import type { Socket } from 'node:net'

import type { ApiResponse, ApiSpec, BrokerServices, RequestContext } from './apis/api'
import { unsupportedApiVersionsBody } from './apis/api-versions'
import type { ApiTable } from './apis/table'
import type { BrokerMetrics } from './broker-metrics'
import { FrameBuffer } from './frames'
import { ApiKey } from './protocol/api-keys'
import { decodeRequestHeader, encodeResponseHead, peekCorrelationId, responseHeaderVersion, type RequestHeader } from './protocol/header'
import { ProtocolError, type Reader } from './protocol/types'

/** Requests decoded but not yet answered; past this the socket is paused (client pipelining is bounded by us, not by memory). */
const MAX_IN_FLIGHT = 64
/** Kafka's connections.max.idle.ms default: an idle connection is closed after 10 minutes. */
const IDLE_TIMEOUT_MS = 10 * 60_000
/** After our FIN, how long a peer gets to close its side before the socket is destroyed (shutdown must not wait on it). */
const END_GRACE_MS = 1_000

export interface ConnectionDeps {
  readonly table: ApiTable
  readonly services: BrokerServices
  readonly metrics: BrokerMetrics
  readonly maxFrameBytes: number
}

type Outcome = { readonly ok: true; readonly response: ApiResponse } | { readonly ok: false; readonly error: unknown }

function releasePieces(response: ApiResponse): void {
  if (response.kind !== 'pieces') return
  for (const piece of response.pieces) if (!Buffer.isBuffer(piece)) piece.slice.release()
}

export class Connection {
  private readonly frames: FrameBuffer
  private readonly abort = new AbortController()
  private readonly peer: string
  private tail: Promise<void> = Promise.resolve()
  private inFlight = 0
  /** No more frames are read: closing (a protocol error), draining (shutdown) or the peer ended. */
  private reading = true
  private closed = false
  readonly done: Promise<void>

  constructor(
    private readonly socket: Socket,
    private readonly deps: ConnectionDeps,
  ) {
    this.frames = new FrameBuffer(deps.maxFrameBytes)
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`
    socket.setNoDelay(true)
    socket.setTimeout(IDLE_TIMEOUT_MS)
    this.done = new Promise((resolve) => socket.once('close', () => resolve()))
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    // A reset or a broken pipe: 'close' follows, which is where the cleanup is.
    socket.on('error', () => undefined)
    socket.on('timeout', () => {
      if (this.inFlight === 0) this.close(`idle for ${IDLE_TIMEOUT_MS / 1000} s`)
    })
    // The server allows half-open sockets: a client that ends its side still gets the
    // answers to what it sent, then our end.
    socket.on('end', () => this.finishThenEnd())
    socket.once('close', () => {
      this.closed = true
      this.reading = false
      this.frames.clear()
      this.abort.abort()
    })
  }

  /** Stops reading, ends long polls, answers what is in flight, then ends the socket. */
  drain(): Promise<void> {
    this.finishThenEnd()
    return this.done
  }

  /** Closes at once with `reason` logged (the requests in flight are not answered). */
  close(reason: string, kind?: string): void {
    if (this.closed) return
    if (kind !== undefined) this.deps.metrics.protocolError(kind)
    this.deps.services.logger(`connection ${this.peer} closed: ${reason}`)
    this.reading = false
    this.closed = true
    this.abort.abort()
    this.socket.destroy()
  }

  private finishThenEnd(): void {
    this.reading = false
    this.abort.abort()
    void this.tail.then(() => {
      if (this.socket.destroyed) return
      this.socket.end()
      // A half-open socket stays open until the peer closes its side too; a client that
      // never does (an idle one, during shutdown) is not waited for.
      setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref()
    })
  }

  private onData(chunk: Buffer): void {
    if (!this.reading) return
    this.frames.push(chunk)
    this.pump()
  }

  private pump(): void {
    while (this.reading && this.inFlight < MAX_IN_FLIGHT) {
      const next = this.frames.next()
      if (next.kind === 'incomplete') break
      if (next.kind === 'too-large') {
        this.close(`frame length ${next.length} is outside 0..${this.deps.maxFrameBytes} (--max-frame-bytes)`, 'frame_too_large')
        return
      }
      this.onFrame(next.frame)
    }
    if (this.closed) return
    if (this.inFlight >= MAX_IN_FLIGHT) this.socket.pause()
    else this.socket.resume()
  }

  private onFrame(frame: Buffer): void {
    const startedNs = process.hrtime.bigint()
    let decoded: ReturnType<typeof decodeRequestHeader>
    try {
      decoded = decodeRequestHeader(frame, this.deps.table.isFlexible)
    } catch (err) {
      this.close(`malformed request header (correlation id ${peekCorrelationId(frame)}): ${(err as Error).message}`, 'malformed')
      return
    }
    const { header, body, flexible } = decoded
    const who = `correlation id ${header.correlationId}, client ${JSON.stringify(header.clientId)}`
    const spec = this.deps.table.get(header.apiKey)
    if (spec === undefined) {
      this.close(`unknown API key ${header.apiKey} (${who})`, 'unknown_api')
      return
    }
    let outcome: Promise<Outcome>
    if (header.apiVersion < spec.minVersion || header.apiVersion > spec.maxVersion) {
      if (spec.key !== ApiKey.ApiVersions) {
        this.close(`${spec.name} v${header.apiVersion} is not supported (v${spec.minVersion}–v${spec.maxVersion}; ${who})`, 'unsupported_version')
        return
      }
      // DESIGN.md §8: answered in the v0 layout with UNSUPPORTED_VERSION and our range.
      outcome = Promise.resolve({ ok: true, response: { kind: 'body', body: unsupportedApiVersionsBody() } })
    } else {
      outcome = this.run(spec, header, flexible, body)
    }
    this.inFlight++
    this.tail = this.tail
      .then(() => outcome)
      .then((o) => this.respond(spec, header, flexible, o, startedNs))
      .catch((err: unknown) => this.close(`writing the ${spec.name} response failed: ${(err as Error).message}`))
      .finally(() => {
        this.inFlight--
        this.pump()
      })
  }

  private run(spec: ApiSpec, header: RequestHeader, flexible: boolean, body: Reader): Promise<Outcome> {
    const ctx: RequestContext = {
      apiKey: header.apiKey,
      apiVersion: header.apiVersion,
      correlationId: header.correlationId,
      clientId: header.clientId,
      flexible,
      services: this.deps.services,
      socket: this.socket,
      signal: this.abort.signal,
    }
    try {
      return spec.handle(ctx, body).then(
        (response): Outcome => ({ ok: true, response }),
        (error: unknown): Outcome => ({ ok: false, error }),
      )
    } catch (error) {
      return Promise.resolve({ ok: false, error })
    }
  }

  private async respond(spec: ApiSpec, header: RequestHeader, flexible: boolean, o: Outcome, startedNs: bigint): Promise<void> {
    const seconds = (): number => Number(process.hrtime.bigint() - startedNs) / 1e9
    if (!o.ok) {
      const e = o.error
      if (e instanceof ProtocolError) this.close(`malformed ${spec.name} v${header.apiVersion} request (correlation id ${header.correlationId}): ${e.message}`, 'malformed')
      else this.close(`${spec.name} v${header.apiVersion} failed (correlation id ${header.correlationId}): ${(e as Error)?.stack ?? String(e)}`, 'handler_failed')
      this.deps.metrics.observe(spec.name, seconds(), true)
      return
    }
    const response = o.response
    try {
      if (this.closed || this.socket.destroyed) return
      const headerVersion = responseHeaderVersion(header.apiKey, flexible)
      if (response.kind === 'body') {
        await this.write([encodeResponseHead(header.correlationId, headerVersion, response.body.length), response.body])
      } else if (response.kind === 'pieces') {
        await this.sendPieces(header.correlationId, headerVersion, response.pieces)
      }
      this.deps.metrics.observe(spec.name, seconds())
    } finally {
      releasePieces(response)
    }
  }

  /** Writes `buffers` in one go and waits for 'drain' when the socket's buffer is full (a slow reader slows us, not our memory). */
  private async write(buffers: Buffer[]): Promise<void> {
    this.socket.cork()
    let ok = true
    for (const b of buffers) ok = this.socket.write(b)
    this.socket.uncork()
    if (ok || this.socket.destroyed) return
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done)
        this.socket.off('close', done)
        resolve()
      }
      this.socket.on('drain', done)
      this.socket.on('close', done)
    })
  }

  /**
   * A 'pieces' response: the frame length (known exactly from the slices' sizes) and the
   * header, then each piece; the bytes before a slice go as its `prefix`, so one sendTo
   * puts them and the records on the socket together.
   */
  private async sendPieces(correlationId: number, headerVersion: 0 | 1, pieces: Extract<ApiResponse, { kind: 'pieces' }>['pieces']): Promise<void> {
    let bodyBytes = 0
    for (const p of pieces) bodyBytes += Buffer.isBuffer(p) ? p.length : p.slice.bytes
    let pending: Buffer[] = [encodeResponseHead(correlationId, headerVersion, bodyBytes)]
    for (const p of pieces) {
      if (Buffer.isBuffer(p)) {
        pending.push(p)
        continue
      }
      const prefix = pending.length === 1 ? pending[0] : Buffer.concat(pending)
      pending = []
      await p.log.sendTo(this.socket, p.slice, { prefix })
    }
    if (pending.length > 0) await this.write(pending)
  }
}
