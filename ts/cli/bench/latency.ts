// Latency recording for the benchmarks: HDR histograms (hdr-histogram-js, the port of
// Gil Tene's HdrHistogram) in whole nanoseconds with 3 significant digits, so every
// percentile is within 0.1% of the recorded value, in fixed memory however long the run.
//
// Recording happens inside the measured loops, so it must be cheap: the WebAssembly
// histogram records in ~20 ns (measured here; the pure-JS one took ~115 ns, which would be
// 4% of a 3 µs cached read). WebAssembly histograms live outside the JS heap and must be
// destroyed: `summarizeLatency` encodes and destroys. A histogram crosses process
// boundaries (the node-fs-uring child, `--json`) as HdrHistogram's compressed base64
// encoding, which `decodeHistogram` reads back (the plot and the report generator do).
import * as hdr from 'hdr-histogram-js'

/** Highest latency tracked without resizing: 2 minutes (larger values still record: autoResize). */
const HIGHEST_NS = 120e9

let wasm: boolean | undefined

/** True once the WebAssembly histogram is compiled (once per process, ~15 ms); false where it cannot be. */
function useWasm(): boolean {
  if (wasm === undefined) {
    try {
      hdr.initWebAssemblySync()
      wasm = true
    } catch {
      wasm = false
    }
  }
  return wasm
}

/** Whether recording uses the WebAssembly histogram (reported in --json: it is the cheaper one). */
export function histogramImplementation(): 'wasm' | 'js' {
  const h = newHistogram()
  try {
    return h instanceof hdr.WasmHistogram ? 'wasm' : 'js'
  } finally {
    h.destroy()
  }
}

export type LatencyHistogram = hdr.Histogram

/** A histogram for one run's latencies, in nanoseconds. */
export function newHistogram(): LatencyHistogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_NS, numberOfSignificantValueDigits: 3, autoResize: true, useWebAssembly: useWasm() })
}

/** Records the time since `startMs` (a performance.now() reading). */
export function recordSince(h: LatencyHistogram, startMs: number): void {
  const ns = Math.round((performance.now() - startMs) * 1e6)
  h.recordValue(ns < 1 ? 1 : ns)
}

export interface LatencyUs {
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  mean: number
}

const round1 = (x: number) => Math.round(x * 10) / 10

/** Percentiles in microseconds (0.1 µs resolution); NaN for an empty histogram. */
export function latencyUs(h: LatencyHistogram): LatencyUs {
  if (h.totalCount === 0) return { p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN }
  // HDR answers a percentile with the top of its bucket (within 0.1%), which can lie above
  // the largest value recorded: no percentile is reported above the maximum.
  const at = (p: number) => round1(Math.min(h.getValueAtPercentile(p), h.maxValue) / 1000)
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: round1(h.maxValue / 1000), mean: round1(h.mean / 1000) }
}

/** HdrHistogram's V2 compressed encoding, base64: what `--json` carries. */
export function encodeHistogram(h: LatencyHistogram): string {
  return hdr.encodeIntoCompressedBase64(h)
}

/** Reads an encoded histogram back (a plain JS histogram: nothing to destroy). */
export function decodeHistogram(encoded: string): LatencyHistogram {
  return hdr.decodeFromCompressedBase64(encoded, 32, false)
}

/** Percentiles and the encoded histogram; `h` is destroyed (WebAssembly memory is not collected). */
export function summarizeLatency(h: LatencyHistogram): { latencyUs: LatencyUs; histogram: string } {
  try {
    return { latencyUs: latencyUs(h), histogram: encodeHistogram(h) }
  } finally {
    h.destroy()
  }
}

/** One point of a percentile curve: percentile (0–100) and the latency at it in µs. */
export interface CurvePoint {
  percentile: number
  us: number
}

/**
 * The HDR percentile curve: points evenly spaced in "nines" (x = log10(1 / (1 − q)), so
 * 90% is 1, 99% is 2, 99.9% is 3), `perNine` per nine, up to the last percentile the
 * sample count resolves (1 − 1/count, at most `maxNines`). The maximum itself (100%) has
 * no place on that axis; `latencyUs(h).max` reports it.
 */
export function percentileCurve(h: LatencyHistogram, perNine = 20, maxNines = 6): CurvePoint[] {
  const n = h.totalCount
  if (n === 0) return []
  const lastNines = Math.min(maxNines, Math.log10(n))
  const points: CurvePoint[] = []
  const steps = Math.max(1, Math.ceil(lastNines * perNine))
  for (let i = 0; i <= steps; i++) {
    const nines = (lastNines * i) / steps
    const percentile = 100 * (1 - 10 ** -nines)
    points.push({ percentile, us: Math.min(h.getValueAtPercentile(percentile), h.maxValue) / 1000 })
  }
  return points
}
