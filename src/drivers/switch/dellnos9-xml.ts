/**
 * Just enough XML for Dell OS9's REST API (and its emulator): the switch
 * answers with small documents (an interface, the CLI's <output>, a Tail-f
 * <errors> body), so a whole XML library would be more than the job. This
 * reads elements, text, CDATA, the five predefined entities and numeric
 * character references; it skips the prolog, comments and processing
 * instructions; namespaces are kept only as prefixes and dropped from
 * names (`dell:shutdown` is `shutdown`), since OS9 documents use a single
 * namespace. Anything malformed is an error, never a guess.
 */

export interface XmlElement {
  /** The local name (prefix dropped). */
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (not its children's), entities decoded. */
  text: string;
}

export class XmlError extends Error {}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    const e = ENTITIES[ref];
    if (e === undefined) throw new XmlError(`unknown XML entity ${whole}`);
    return e;
  });
}

/** Text as XML element content or attribute value. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&${Object.entries(ENTITIES).find(([, v]) => v === c)![0]};`);
}

const localName = (qname: string) => qname.slice(qname.indexOf(':') + 1);

/** Parses a whole document; its root element. */
export function parseXml(doc: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const fail = (what: string): never => {
    throw new XmlError(`malformed XML at offset ${i}: ${what}`);
  };
  while (i < doc.length) {
    const lt = doc.indexOf('<', i);
    const text = doc.slice(i, lt < 0 ? doc.length : lt);
    if (text.length) {
      if (stack.length) stack.at(-1)!.text += decodeEntities(text);
      else if (text.trim()) fail('text outside the root element');
    }
    if (lt < 0) break;
    i = lt;
    if (doc.startsWith('<!--', i)) {
      const end = doc.indexOf('-->', i);
      if (end < 0) fail('unterminated comment');
      i = end + 3;
    } else if (doc.startsWith('<![CDATA[', i)) {
      const end = doc.indexOf(']]>', i);
      if (end < 0 || !stack.length) fail('misplaced CDATA');
      stack.at(-1)!.text += doc.slice(i + 9, end);
      i = end + 3;
    } else if (doc.startsWith('<?', i) || doc.startsWith('<!', i)) {
      const end = doc.indexOf('>', i);
      if (end < 0) fail('unterminated declaration');
      i = end + 1;
    } else if (doc.startsWith('</', i)) {
      const m = /^<\/([^\s>]+)\s*>/.exec(doc.slice(i));
      if (!m) fail('bad end tag');
      const open = stack.pop();
      if (!open || open.name !== localName(m![1]!)) fail(`end tag </${m![1]}> does not match`);
      i += m![0].length;
    } else {
      const m = /^<([^\s/>]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/.exec(doc.slice(i));
      if (!m) fail('bad start tag');
      const el: XmlElement = { name: localName(m![1]!), attributes: {}, children: [], text: '' };
      for (const a of m![2]!.matchAll(/([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) el.attributes[a[1]!] = decodeEntities(a[2] ?? a[3] ?? '');
      if (stack.length) stack.at(-1)!.children.push(el);
      else if (root) fail('a second root element');
      else root = el;
      if (m![3] !== '/') stack.push(el);
      i += m![0].length;
    }
  }
  if (stack.length) fail(`<${stack.at(-1)!.name}> is not closed`);
  if (!root) fail('no element');
  return root!;
}

/** The first child element of that name, if any. */
export function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

/** Follows a path of child names ("portmode", "hybrid"). */
export function path(el: XmlElement | undefined, ...names: string[]): XmlElement | undefined {
  return names.reduce<XmlElement | undefined>((at, n) => child(at, n), el);
}

/** Every element of that name anywhere below `el`, in document order. */
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
