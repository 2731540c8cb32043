// A strict reader of the Prometheus text exposition format 0.0.4
// (prometheus.io/docs/instrumenting/exposition_formats/), for checking io.prometheus().
// Stricter than a scraper where the format leaves room, never looser:
// - `# HELP name text` and `# TYPE name type` at most once per family, before its samples;
//   a family's lines form one group (no family resumes after another began);
// - metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* not
//   starting with __, label values with only \\ \" \n escapes, no label twice, no
//   duplicate series;
// - values are Go floats (+Inf, -Inf, NaN allowed), an optional integer timestamp;
// - a counter's samples are finite and ≥ 0; a sample's family must be TYPEd;
// - histograms: only _bucket (with le) / _sum / _count samples; per label set, le values
//   parse, strictly increase, counts never decrease, a +Inf bucket equals _count, and
//   _sum and _count are present;
// - the text ends with a newline.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample {
  /** The sample's own name (with _bucket/_sum/_count for histograms). */
  name: string
  labels: Record<string, string>
  value: number
}

export interface Family {
  name: string
  type: MetricType
  help: string | null
  samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const FLOAT = /^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Inf|inf)$|^NaN$/
const TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped']
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const

function parseFloatStrict(s: string, where: string): number {
  if (!FLOAT.test(s)) throw new Error(`${where}: not a float: ${JSON.stringify(s)}`)
  if (/^[+]?[Ii]nf$/.test(s)) return Infinity
  if (/^-[Ii]nf$/.test(s)) return -Infinity
  return Number(s)
}

/** `{a="x",b="y"}` → { a: 'x', b: 'y' }, unescaping \\ \" \n; rest: what follows the `}`. */
function parseLabels(text: string, where: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {}
  let i = 1 // past '{'
  for (;;) {
    if (text[i] === '}') return { labels, rest: text.slice(i + 1) }
    const eq = text.indexOf('=', i)
    if (eq === -1) throw new Error(`${where}: label without '='`)
    const name = text.slice(i, eq)
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`${where}: bad label name ${JSON.stringify(name)}`)
    if (name in labels) throw new Error(`${where}: label ${name} twice`)
    if (text[eq + 1] !== '"') throw new Error(`${where}: label ${name} value not quoted`)
    let value = ''
    let j = eq + 2
    for (;; j++) {
      const c = text[j]
      if (c === undefined) throw new Error(`${where}: unterminated label value`)
      if (c === '"') break
      if (c === '\n') throw new Error(`${where}: raw newline in a label value`)
      if (c === '\\') {
        const e = text[++j]
        if (e === '\\') value += '\\'
        else if (e === '"') value += '"'
        else if (e === 'n') value += '\n'
        else throw new Error(`${where}: bad escape \\${e} in label ${name}`)
      } else {
        value += c
      }
    }
    labels[name] = value
    i = j + 1
    if (text[i] === ',') {
      i++
      if (text[i] === '}') throw new Error(`${where}: trailing comma in labels`)
    } else if (text[i] !== '}') {
      throw new Error(`${where}: expected ',' or '}' after label ${name}`)
    }
  }
}

/** The family a sample belongs to: its own name, or for a histogram's parts the base name. */
function familyOf(sampleName: string, families: Map<string, Family>): Family | undefined {
  const own = families.get(sampleName)
  if (own !== undefined) return own
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (sampleName.endsWith(suffix)) {
      const f = families.get(sampleName.slice(0, -suffix.length))
      if (f !== undefined && (f.type === 'histogram' || f.type === 'summary')) return f
    }
  }
  return undefined
}

const seriesKey = (name: string, labels: Record<string, string>) =>
  `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`

/** Parses and checks an exposition; throws naming the line and the rule broken. */
export function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline')
  const families = new Map<string, Family>()
  const seen = new Set<string>()
  const closed = new Set<string>()
  let current: string | null = null
  const enter = (name: string, where: string) => {
    if (current === name) return
    if (closed.has(name)) throw new Error(`${where}: family ${name} resumes after another family began`)
    if (current !== null) closed.add(current)
    current = name
  }
  const lines = text.slice(0, -1).split('\n')
  lines.forEach((line, n) => {
    const where = `line ${n + 1} (${JSON.stringify(line.slice(0, 80))})`
    if (line.trim() === '') return
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line)
      if (!m) return // a comment
      const [, kind, name, rest = ''] = m
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name`)
      enter(name, where)
      let f = families.get(name)
      if (f === undefined) {
        f = { name, type: 'untyped', help: null, samples: [] }
        families.set(name, f)
      }
      if (kind === 'HELP') {
        if (f.help !== null) throw new Error(`${where}: second HELP for ${name}`)
        if (/\\([^n]|$)/.test(rest.replace(/\\\\/g, ''))) throw new Error(`${where}: bad escape in HELP`)
        f.help = rest.replace(/\\(\\|n)/g, (_, e: string) => (e === 'n' ? '\n' : '\\'))
      } else {
        if (seen.has(`TYPE ${name}`)) throw new Error(`${where}: second TYPE for ${name}`)
        if (f.samples.length > 0) throw new Error(`${where}: TYPE after samples of ${name}`)
        if (!TYPES.includes(rest as MetricType)) throw new Error(`${where}: unknown type ${JSON.stringify(rest)}`)
        seen.add(`TYPE ${name}`)
        f.type = rest as MetricType
      }
      return
    }
    const nameEnd = line.search(/[{ ]/)
    if (nameEnd <= 0) throw new Error(`${where}: not a sample line`)
    const name = line.slice(0, nameEnd)
    if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name`)
    let labels: Record<string, string> = {}
    let rest = line.slice(nameEnd)
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, where))
    const parts = rest.split(' ')
    if (parts[0] !== '' || parts.length < 2 || parts.length > 3) throw new Error(`${where}: expected 'name{labels} value [timestamp]'`)
    const value = parseFloatStrict(parts[1], where)
    if (parts.length === 3 && !/^-?\d+$/.test(parts[2])) throw new Error(`${where}: bad timestamp`)
    const f = familyOf(name, families)
    if (f === undefined || !seen.has(`TYPE ${f.name}`)) throw new Error(`${where}: sample of ${name} before (or without) its TYPE line`)
    enter(f.name, where)
    if (f.type === 'histogram' && !HISTOGRAM_SUFFIXES.some((s) => name === f.name + s)) throw new Error(`${where}: ${name} in histogram ${f.name}`)
    if (f.type === 'histogram' && name.endsWith('_bucket') !== ('le' in labels)) throw new Error(`${where}: le belongs on _bucket samples only`)
    if (f.type === 'counter' && !(value >= 0 && Number.isFinite(value))) throw new Error(`${where}: counter value ${value}`)
    const key = seriesKey(name, labels)
    if (seen.has(key)) throw new Error(`${where}: duplicate series ${key}`)
    seen.add(key)
    f.samples.push({ name, labels, value })
  })
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f)
  return families
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; sum?: number; count?: number }>()
  for (const s of f.samples) {
    const { le, ...rest } = s.labels
    const key = seriesKey('', rest)
    const g = groups.get(key) ?? { buckets: [] }
    groups.set(key, g)
    if (s.name.endsWith('_bucket')) g.buckets.push([parseFloatStrict(le, `${f.name}${key} le`), s.value])
    else if (s.name.endsWith('_sum')) g.sum = s.value
    else g.count = s.value
  }
  for (const [key, g] of groups) {
    const at = `histogram ${f.name}${key}`
    if (g.sum === undefined) throw new Error(`${at}: no _sum`)
    if (g.count === undefined) throw new Error(`${at}: no _count`)
    if (g.buckets.length === 0) throw new Error(`${at}: no buckets`)
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i][0] > g.buckets[i - 1][0])) throw new Error(`${at}: le ${g.buckets[i][0]} does not increase on ${g.buckets[i - 1][0]}`)
      if (g.buckets[i][1] < g.buckets[i - 1][1]) throw new Error(`${at}: bucket le=${g.buckets[i][0]} (${g.buckets[i][1]}) below le=${g.buckets[i - 1][0]} (${g.buckets[i - 1][1]}): not cumulative`)
    }
    const last = g.buckets[g.buckets.length - 1]
    if (last[0] !== Infinity) throw new Error(`${at}: no le="+Inf" bucket`)
    if (last[1] !== g.count) throw new Error(`${at}: +Inf bucket ${last[1]} != _count ${g.count}`)
  }
}

/** The value of one series, or undefined. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    const s = f.samples.find((x) => x.name === name && seriesKey('', x.labels) === seriesKey('', labels))
    if (s !== undefined) return s.value
  }
  return undefined
}
