// A small well-formedness check for the SVG the bench writes (XML 1.0 §2.1, the parts an
// SVG without a DTD uses): one root element, tags balanced and properly nested, names
// valid, attributes quoted and not repeated, `<` never raw inside a value, every `&` a
// known entity or a character reference. Returns the elements in document order.

export interface XmlElement {
  name: string
  attrs: Record<string, string>
  /** The element's direct text (entities decoded), for <text> and <title>. */
  text: string
  depth: number
}

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*$/
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g

function decode(s: string, where: string): string {
  const stripped = s.replace(ENTITY, '')
  if (stripped.includes('&')) throw new Error(`${where}: a bare '&' or an unknown entity`)
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&amp;/g, '&')
}

export function checkXml(doc: string): XmlElement[] {
  const out: XmlElement[] = []
  const stack: XmlElement[] = []
  let roots = 0
  let i = 0
  let body = doc
  if (body.startsWith('<?xml')) {
    const end = body.indexOf('?>')
    if (end === -1) throw new Error('unterminated XML declaration')
    body = body.slice(end + 2)
  }
  while (i < body.length) {
    const lt = body.indexOf('<', i)
    const text = body.slice(i, lt === -1 ? body.length : lt)
    if (text.includes('>')) throw new Error(`a raw '>' in text near ${JSON.stringify(text.slice(0, 40))}`)
    if (stack.length === 0 ? text.trim() !== '' : false) throw new Error(`text outside the root: ${JSON.stringify(text.slice(0, 40))}`)
    if (stack.length > 0) stack[stack.length - 1].text += decode(text, 'text')
    if (lt === -1) break
    if (body.startsWith('<!--', lt)) {
      const end = body.indexOf('-->', lt)
      if (end === -1) throw new Error('unterminated comment')
      i = end + 3
      continue
    }
    const gt = body.indexOf('>', lt)
    if (gt === -1) throw new Error('unterminated tag')
    const tag = body.slice(lt + 1, gt)
    i = gt + 1
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim()
      const open = stack.pop()
      if (open === undefined || open.name !== name) throw new Error(`</${name}> closes ${open === undefined ? 'nothing' : `<${open.name}>`}`)
      continue
    }
    const selfClosing = tag.endsWith('/')
    const inner = selfClosing ? tag.slice(0, -1) : tag
    const m = /^([^\s/>]+)([\s\S]*)$/.exec(inner)
    if (!m || !NAME.test(m[1])) throw new Error(`bad tag name in <${tag.slice(0, 40)}>`)
    const attrs: Record<string, string> = {}
    let rest = m[2]
    for (;;) {
      rest = rest.trimStart()
      if (rest === '') break
      const a = /^([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/.exec(rest)
      if (!a || !NAME.test(a[1])) throw new Error(`bad attribute in <${m[1]}>: ${JSON.stringify(rest.slice(0, 40))}`)
      if (a[1] in attrs) throw new Error(`attribute ${a[1]} twice in <${m[1]}>`)
      const raw = a[3] ?? a[4]
      if (raw.includes('<')) throw new Error(`'<' in attribute ${a[1]} of <${m[1]}>`)
      attrs[a[1]] = decode(raw, `attribute ${a[1]} of <${m[1]}>`)
      rest = rest.slice(a[0].length)
    }
    if (stack.length === 0) roots++
    if (roots > 1) throw new Error(`a second root element <${m[1]}>`)
    const el: XmlElement = { name: m[1], attrs, text: '', depth: stack.length }
    out.push(el)
    if (!selfClosing) stack.push(el)
  }
  if (stack.length > 0) throw new Error(`<${stack[stack.length - 1].name}> is never closed`)
  if (roots !== 1) throw new Error('no root element')
  return out
}
