// `streamline-io bench --plot FILE`: the latency distributions as a self-contained SVG
// (no scripts, no external fonts or styles; any browser opens it). One panel per
// workload; in each, one line per backend: HDR-style percentile curves, the x axis in
// "nines" (90%, 99%, 99.9%, … evenly spaced, so the tail gets as much room as the body),
// the y axis latency on a log scale. Drawn from the runs' HDR histograms.
import { type CurvePoint, decodeHistogram, percentileCurve } from './latency'
import type { BenchReport } from './report'

export interface PlotSeries {
  /** The legend's name: the backend. */
  name: string
  /** Encoded HDR histograms (ns) of this series; several (runs) are added together. */
  histograms: string[]
  /** Set instead of histograms when the backend did not run: shown in the legend. */
  skipped?: string
}

export interface PlotPanel {
  title: string
  /** What one latency sample is (e.g. "per read", "per batch of 32"). */
  note?: string
  series: PlotSeries[]
}

export interface PlotSpec {
  title: string
  subtitle: string
  panels: PlotPanel[]
}

const COLORS: Record<string, string> = { io_uring: '#1f77b4', standard: '#ff7f0e', 'node-fs': '#2ca02c', 'node-fs-uring': '#9467bd' }
const EXTRA_COLORS = ['#d62728', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22']

const WIDTH = 960
const PANEL_HEIGHT = 400
const HEADER = 64
const M = { left: 84, right: 260, top: 48, bottom: 56 }

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
}

/** "1 µs", "100 µs", "1 ms", "10 s": a decade of microseconds in words. */
export function formatUs(us: number): string {
  const fmt = (x: number) => String(Number(x.toPrecision(3)))
  if (us < 1000) return `${fmt(us)} µs`
  if (us < 1e6) return `${fmt(us / 1000)} ms`
  return `${fmt(us / 1e6)} s`
}

/** The label of a point `nines` along the x axis: 0 → "0%", 1 → "90%", 3 → "99.9%". */
export function ninesLabel(nines: number): string {
  if (nines === 0) return '0%'
  return `${(100 * (1 - 10 ** -nines)).toFixed(Math.max(0, nines - 2))}%`
}

const ninesOf = (percentile: number) => -Math.log10(1 - percentile / 100)
const fixed = (x: number) => (Math.round(x * 10) / 10).toString()

interface Curve {
  series: PlotSeries
  color: string
  points: CurvePoint[]
  p50: number
  p99: number
  p999: number
  count: number
}

function curveOf(s: PlotSeries, color: string): Curve {
  const [first, ...rest] = s.histograms.map(decodeHistogram)
  for (const h of rest) first.add(h)
  return {
    series: s,
    color,
    points: percentileCurve(first).filter((p) => p.us > 0),
    p50: Math.min(first.getValueAtPercentile(50), first.maxValue) / 1000,
    p99: Math.min(first.getValueAtPercentile(99), first.maxValue) / 1000,
    p999: Math.min(first.getValueAtPercentile(99.9), first.maxValue) / 1000,
    count: first.totalCount,
  }
}

function panelSvg(panel: PlotPanel, top: number): string {
  let extra = 0
  const curves: Curve[] = []
  const skipped: PlotSeries[] = []
  for (const s of panel.series) {
    const color = COLORS[s.name] ?? EXTRA_COLORS[extra++ % EXTRA_COLORS.length]
    if (s.skipped !== undefined || s.histograms.length === 0) skipped.push(s)
    else curves.push(curveOf(s, color))
  }
  const all = curves.flatMap((c) => c.points)
  const maxNines = Math.max(2, Math.ceil(Math.max(0, ...all.map((p) => ninesOf(p.percentile)).filter(Number.isFinite))))
  const lo = all.length === 0 ? 0 : Math.floor(Math.log10(Math.min(...all.map((p) => p.us))))
  let hi = all.length === 0 ? 3 : Math.ceil(Math.log10(Math.max(...all.map((p) => p.us))))
  if (hi <= lo) hi = lo + 1
  const x0 = M.left
  const x1 = WIDTH - M.right
  const y0 = top + PANEL_HEIGHT - M.bottom
  const y1 = top + M.top
  const xOf = (nines: number) => x0 + ((x1 - x0) * nines) / maxNines
  const yOf = (us: number) => y0 - ((y0 - y1) * (Math.log10(us) - lo)) / (hi - lo)
  const out: string[] = []
  out.push(`<g class="panel">`)
  out.push(`<text x="${x0}" y="${top + 22}" font-size="16" font-weight="bold">${escapeXml(panel.title)}</text>`)
  if (panel.note) out.push(`<text x="${x0}" y="${top + 40}" font-size="12" fill="#555">${escapeXml(panel.note)}</text>`)
  // Grid and ticks: decades of latency (with 2× and 5× lines), whole nines of percentile.
  for (let d = lo; d <= hi; d++) {
    const y = fixed(yOf(10 ** d))
    out.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#ccc"/>`)
    out.push(`<text x="${x0 - 8}" y="${y}" font-size="12" text-anchor="end" dominant-baseline="middle">${escapeXml(formatUs(10 ** d))}</text>`)
    if (d < hi) for (const m of [2, 5]) out.push(`<line x1="${x0}" y1="${fixed(yOf(m * 10 ** d))}" x2="${x1}" y2="${fixed(yOf(m * 10 ** d))}" stroke="#eee"/>`)
  }
  for (let n = 0; n <= maxNines; n++) {
    const x = fixed(xOf(n))
    out.push(`<line x1="${x}" y1="${y1}" x2="${x}" y2="${y0}" stroke="#ddd"/>`)
    out.push(`<text x="${x}" y="${y0 + 18}" font-size="12" text-anchor="middle">${escapeXml(ninesLabel(n))}</text>`)
  }
  out.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="none" stroke="#333"/>`)
  out.push(`<text x="${(x0 + x1) / 2}" y="${y0 + 42}" font-size="13" text-anchor="middle">percentile (log scale in nines: 90%, 99%, 99.9%, …)</text>`)
  out.push(`<text x="${x0 - 66}" y="${(y0 + y1) / 2}" font-size="13" text-anchor="middle" transform="rotate(-90 ${x0 - 66} ${(y0 + y1) / 2})">latency (µs, log scale)</text>`)
  for (const c of curves) {
    const pts = c.points.map((p) => `${fixed(xOf(ninesOf(p.percentile)))},${fixed(yOf(p.us))}`).join(' ')
    out.push(`<polyline class="series" data-backend="${escapeXml(c.series.name)}" fill="none" stroke="${c.color}" stroke-width="2" points="${pts}"><title>${escapeXml(c.series.name)}</title></polyline>`)
  }
  // Legend: one entry per backend, with its p50/p99/p999 and sample count.
  let ly = y1 + 8
  const lx = x1 + 16
  for (const c of curves) {
    out.push(`<g class="legend-entry"><line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${c.color}" stroke-width="3"/>`)
    out.push(`<text x="${lx + 32}" y="${ly}" font-size="13" dominant-baseline="middle">${escapeXml(c.series.name)}</text>`)
    out.push(`<text x="${lx + 32}" y="${ly + 16}" font-size="11" fill="#555" dominant-baseline="middle">${escapeXml(`p50 ${formatUs(c.p50)} · p99 ${formatUs(c.p99)}`)}</text>`)
    out.push(`<text x="${lx + 32}" y="${ly + 30}" font-size="11" fill="#555" dominant-baseline="middle">${escapeXml(`p99.9 ${formatUs(c.p999)} · n ${c.count.toLocaleString('en-US')}`)}</text></g>`)
    ly += 52
  }
  for (const s of skipped) {
    out.push(`<g class="legend-entry"><text x="${lx + 32}" y="${ly}" font-size="13" fill="#888" dominant-baseline="middle">${escapeXml(`${s.name}: skipped`)}</text>`)
    out.push(`<text x="${lx + 32}" y="${ly + 16}" font-size="11" fill="#888" dominant-baseline="middle">${escapeXml((s.skipped ?? 'no samples').slice(0, 40))}</text></g>`)
    ly += 40
  }
  out.push('</g>')
  return out.join('\n')
}

/** The whole SVG document. */
export function renderLatencyPlot(spec: PlotSpec): string {
  const height = HEADER + spec.panels.length * PANEL_HEIGHT
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`)
  out.push(`<title>${escapeXml(spec.title)}</title>`)
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#fff"/>`)
  out.push(`<text x="16" y="28" font-size="20" font-weight="bold">${escapeXml(spec.title)}</text>`)
  out.push(`<text x="16" y="50" font-size="13" fill="#333">${escapeXml(spec.subtitle)}</text>`)
  spec.panels.forEach((p, i) => out.push(panelSvg(p, HEADER + i * PANEL_HEIGHT)))
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

/**
 * The plot of one or more `--json` reports: a panel per workload, a line per backend with
 * the histograms of every run added together.
 */
export function plotReports(reports: readonly BenchReport[], titles: Record<string, string> = {}): string {
  const first = reports[0]
  const m = first.machine
  // In the order the runs report them (DESIGN.md §6's: W1 … W6, then W7's phases).
  const workloads = [...new Set(reports.flatMap((r) => r.results.map((x) => x.workload)))]
  const panels: PlotPanel[] = workloads.map((w) => {
    const backends = [...new Set(reports.flatMap((r) => r.results.filter((x) => x.workload === w).map((x) => x.backend)))]
    return {
      title: `${w} ${titles[w] ?? ''}`.trim() + ` — ${m.cpus} × ${m.cpuModel}`,
      note: first.notes?.[w] ?? 'latency per operation',
      series: backends.map((b) => {
        const rows = reports.flatMap((r) => r.results.filter((x) => x.workload === w && x.backend === b))
        const histograms = rows.flatMap((x) => (x.histogram === undefined ? [] : [x.histogram]))
        return histograms.length > 0 ? { name: b, histograms } : { name: b, histograms: [], skipped: rows.find((x) => x.skipped)?.skipped ?? 'no latency histogram in the report' }
      }),
    }
  })
  const runs = reports.length === 1 ? '' : `, ${reports.length} runs`
  return renderLatencyPlot({
    title: `streamline-io bench: latency by percentile`,
    subtitle: `${m.cpus} × ${m.cpuModel}, Linux ${first.kernel}, ${first.fs?.type ?? first.fsType} (${first.dir}), node ${m.node}, ${first.date}${runs}`,
    panels,
  })
}
