// The broker's own Prometheus metrics, beside the Io's: requests and their latency per
// API (from the frame being read to the response handed to the socket), connections,
// and connections closed for a protocol error. Text exposition format 0.0.4.

/** Latency bucket bounds in seconds: 0.1 ms (a Metadata) to 10 s (past any long poll's usual wait). */
const BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

interface ApiStats {
  count: number
  errors: number
  sumSeconds: number
  /** Non-cumulative counts per bucket; the last is +Inf. */
  buckets: number[]
}

export class BrokerMetrics {
  private readonly apis = new Map<string, ApiStats>()
  private readonly closedForProtocolError = new Map<string, number>()
  connectionsOpen = 0
  connectionsAccepted = 0

  /** One request of `api` finished after `seconds`; `failed` when it closed its connection instead of being answered. */
  observe(api: string, seconds: number, failed = false): void {
    let s = this.apis.get(api)
    if (s === undefined) {
      s = { count: 0, errors: 0, sumSeconds: 0, buckets: new Array<number>(BUCKETS_S.length + 1).fill(0) }
      this.apis.set(api, s)
    }
    s.count++
    if (failed) s.errors++
    s.sumSeconds += seconds
    let i = 0
    while (i < BUCKETS_S.length && seconds > BUCKETS_S[i]) i++
    s.buckets[i]++
  }

  /** A connection closed for `kind`: 'frame_too_large', 'malformed', 'unknown_api', 'unsupported_version', 'handler_failed'. */
  protocolError(kind: string): void {
    this.closedForProtocolError.set(kind, (this.closedForProtocolError.get(kind) ?? 0) + 1)
  }

  prometheus(): string {
    const lines: string[] = []
    const apis = [...this.apis].sort(([a], [b]) => (a < b ? -1 : 1))
    lines.push('# HELP streamline_broker_requests_total Kafka requests handled, per API.', '# TYPE streamline_broker_requests_total counter')
    for (const [api, s] of apis) lines.push(`streamline_broker_requests_total{api="${api}"} ${s.count}`)
    lines.push('# HELP streamline_broker_request_failures_total Requests that closed their connection instead of being answered, per API.', '# TYPE streamline_broker_request_failures_total counter')
    for (const [api, s] of apis) lines.push(`streamline_broker_request_failures_total{api="${api}"} ${s.errors}`)
    lines.push('# HELP streamline_broker_request_duration_seconds From a request frame read to its response written, per API.', '# TYPE streamline_broker_request_duration_seconds histogram')
    for (const [api, s] of apis) {
      let cumulative = 0
      for (let i = 0; i < BUCKETS_S.length; i++) {
        cumulative += s.buckets[i]
        lines.push(`streamline_broker_request_duration_seconds_bucket{api="${api}",le="${BUCKETS_S[i]}"} ${cumulative}`)
      }
      lines.push(`streamline_broker_request_duration_seconds_bucket{api="${api}",le="+Inf"} ${s.count}`)
      lines.push(`streamline_broker_request_duration_seconds_sum{api="${api}"} ${s.sumSeconds}`)
      lines.push(`streamline_broker_request_duration_seconds_count{api="${api}"} ${s.count}`)
    }
    lines.push('# HELP streamline_broker_connections Client connections open.', '# TYPE streamline_broker_connections gauge', `streamline_broker_connections ${this.connectionsOpen}`)
    lines.push('# HELP streamline_broker_connections_accepted_total Client connections accepted.', '# TYPE streamline_broker_connections_accepted_total counter', `streamline_broker_connections_accepted_total ${this.connectionsAccepted}`)
    lines.push('# HELP streamline_broker_protocol_errors_total Connections closed for a protocol error, per kind.', '# TYPE streamline_broker_protocol_errors_total counter')
    for (const [kind, n] of [...this.closedForProtocolError].sort(([a], [b]) => (a < b ? -1 : 1))) lines.push(`streamline_broker_protocol_errors_total{kind="${kind}"} ${n}`)
    return lines.join('\n') + '\n'
  }
}
