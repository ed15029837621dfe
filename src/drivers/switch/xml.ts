/**
 * Just enough XML for the two REST switch APIs, on both sides of each: the
 * Brocade VDX (./brocade/) and Dell OS9 (./dellnos9*.ts) drivers read the
 * switch's answers, their emulators read the drivers' requests. No
 * dependency: the documents are small and flat, and a strict parser is
 * what we want — a request that is not well-formed XML must be refused, as
 * the switch refuses it (upstream sent the VDX `<vlan><add>V</vlan></vlan>`).
 *
 * Supported: elements, attributes, namespace prefixes (dropped from names:
 * `y:self` is read as `self`, `dell:shutdown` as `shutdown`), character
 * data with the five predefined and numeric entities, CDATA, comments, an
 * XML declaration. Not supported (and refused): DTDs and processing
 * instructions other than the declaration.
 */

export interface XmlElement {
  /** The local name, without a namespace prefix. */
  name: string;
  /** Attributes by local name. */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's character data (concatenated, untrimmed). */
  text: string;
}

export class XmlError extends Error {}

const NAME = /^[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?/;

const localName = (qname: string) => qname.slice(qname.indexOf(':') + 1);

function decode(raw: string, at: number): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);|&/g, (m, ent: string | undefined) => {
    if (ent === undefined) throw new XmlError(`a bare "&" at offset ${at}`);
    if (ent.startsWith('#x')) return String.fromCodePoint(parseInt(ent.slice(2), 16));
    if (ent.startsWith('#')) return String.fromCodePoint(parseInt(ent.slice(1), 10));
    return { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }[ent]!;
  });
}

/** Where the white space at `i` ends. */
function pastSpace(text: string, i: number): number {
  while (i < text.length && /\s/.test(text[i]!)) i++;
  return i;
}

/** The start tag at `i` (where text[i] is "<"): its element, whether it closes itself, and where the tag ends. */
function startTag(text: string, i: number): { el: XmlElement; selfClosing: boolean; next: number } {
  const m = NAME.exec(text.slice(i + 1));
  if (!m) throw new XmlError(`a bad tag at offset ${i}`);
  const el: XmlElement = { name: localName(m[0]), attrs: {}, children: [], text: '' };
  i += 1 + m[0].length;
  for (;;) {
    const before = i;
    i = pastSpace(text, i);
    if (text.startsWith('/>', i)) return { el, selfClosing: true, next: i + 2 };
    if (text[i] === '>') return { el, selfClosing: false, next: i + 1 };
    const a = NAME.exec(text.slice(i));
    if (!a || i === before) throw new XmlError(`a bad attribute at offset ${i}`);
    i = pastSpace(text, i + a[0].length);
    if (text[i] !== '=') throw new XmlError(`an attribute without a value at offset ${i}`);
    i = pastSpace(text, i + 1);
    const q = text[i];
    if (q !== '"' && q !== "'") throw new XmlError(`an unquoted attribute value at offset ${i}`);
    const end = text.indexOf(q, i + 1);
    if (end < 0) throw new XmlError(`an unclosed attribute value at offset ${i}`);
    el.attrs[localName(a[0])] = decode(text.slice(i + 1, end), i);
    i = end + 1;
  }
}

/** Parses one XML document; throws XmlError saying where it is not well-formed. */
export function parseXml(text: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;

  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = lt < 0 ? text.slice(i) : text.slice(i, lt);
    if (chunk.length) {
      if (stack.length) stack[stack.length - 1]!.text += decode(chunk, i);
      else if (chunk.trim()) throw new XmlError(`text outside the document element at offset ${i}`);
    }
    if (lt < 0) break;
    i = lt;
    if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i);
      if (end < 0 || root || stack.length || !/^<\?xml[\s?]/.test(text.slice(i, i + 6))) throw new XmlError(`a processing instruction at offset ${i}`);
      i = end + 2;
    } else if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4);
      if (end < 0) throw new XmlError(`an unclosed comment at offset ${i}`);
      i = end + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i);
      if (end < 0 || !stack.length) throw new XmlError(`a misplaced or unclosed CDATA section at offset ${i}`);
      stack[stack.length - 1]!.text += text.slice(i + 9, end);
      i = end + 3;
    } else if (text.startsWith('<!', i)) {
      throw new XmlError(`a declaration (DTD) at offset ${i}`);
    } else if (text.startsWith('</', i)) {
      const m = NAME.exec(text.slice(i + 2));
      if (!m) throw new XmlError(`a bad closing tag at offset ${i}`);
      const open = stack.pop();
      if (!open || localName(m[0]) !== open.name) throw new XmlError(`</${m[0]}> at offset ${i} does not close ${open ? `<${open.name}>` : 'any element'}`);
      i = pastSpace(text, i + 2 + m[0].length);
      if (text[i] !== '>') throw new XmlError(`a bad closing tag at offset ${i}`);
      i++;
    } else {
      if (root && !stack.length && NAME.test(text.slice(i + 1))) throw new XmlError(`a second document element at offset ${i}`);
      const tag = startTag(text, i);
      attach(tag.el, !tag.selfClosing);
      i = tag.next;
    }
  }
  if (stack.length) throw new XmlError(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (!root) throw new XmlError('no document element');
  return root;

  function attach(el: XmlElement, open: boolean) {
    if (stack.length) stack[stack.length - 1]!.children.push(el);
    else root = el;
    if (open) stack.push(el);
  }
}

/** The first child called `name`, or undefined. */
export const child = (el: XmlElement | undefined, name: string) => el?.children.find((c) => c.name === name);

/** The element at a path of child names below `el`, or undefined. */
export function at(el: XmlElement | undefined, ...path: string[]): XmlElement | undefined {
  for (const name of path) el = child(el, name);
  return el;
}

/** The trimmed text at a path below `el`, or undefined when there is no such element. */
export const textAt = (el: XmlElement | undefined, ...path: string[]) => at(el, ...path)?.text.trim();

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** `<name>…</name>`: children are already-built XML, strings are escaped text. */
export function el(name: string, ...content: Array<string | { xml: string }>): { xml: string } {
  const inner = content.map((c) => (typeof c === 'string' ? escapeXml(c) : c.xml)).join('');
  return { xml: `<${name}>${inner}</${name}>` };
}

/** The first element called `name` at or below `el` (depth first), or undefined. */
export function find(el: XmlElement | undefined, name: string): XmlElement | undefined {
  if (!el) return undefined;
  if (el.name === name) return el;
  for (const c of el.children) {
    const f = find(c, name);
    if (f) return f;
  }
  return undefined;
}

/** Every element called `name` below `el` (not `el` itself), in document order. */
export function descendants(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    for (const c of e.children) {
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(el);
  return out;
}
