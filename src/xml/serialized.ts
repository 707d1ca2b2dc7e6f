// Reading back XML this server serialized itself (element.ts, escape.ts),
// where every '<' and '>' in text and attribute values is escaped: each '<'
// starts a tag and the next '>' ends it. One string the router writes may
// carry several stanzas (a shard's delivery to one occupant goes on with more
// addressed to it); stream management counts them and client state indication
// looks at each.

/** The top-level elements of `xml`, in order. */
export function topLevelElements(xml: string): string[] {
  const elements: string[] = [];
  let depth = 0;
  let start = 0;
  let lt = xml.indexOf('<');
  while (lt >= 0) {
    const gt = xml.indexOf('>', lt);
    if (gt < 0) break;
    if (xml.charCodeAt(lt + 1) === SLASH) depth--;
    else if (xml.charCodeAt(gt - 1) !== SLASH) depth++;
    if (depth === 0) {
      elements.push(xml.slice(start, gt + 1));
      start = gt + 1;
    }
    lt = xml.indexOf('<', gt);
  }
  return elements;
}

/** The value of attribute `name` on the element's start tag (single-quoted, as serialized), still escaped. */
export function startTagAttribute(xml: string, name: string): string | undefined {
  const end = xml.indexOf('>');
  // Searched back from the end of the start tag, so that an attribute it lacks costs no scan of the children.
  const at = xml.lastIndexOf(` ${name}='`, end);
  if (at < 0) return undefined;
  const from = at + name.length + 3;
  return xml.slice(from, xml.indexOf("'", from));
}

/** The element's children, in order (its text left out). */
export function childElements(xml: string): string[] {
  const end = xml.indexOf('>');
  if (xml.charCodeAt(end - 1) === SLASH) return [];
  return topLevelElements(xml.slice(end + 1, xml.lastIndexOf('</')));
}

/** The element with `child` (serialized) added after its other children. */
export function withChild(xml: string, child: string): string {
  const end = xml.indexOf('>');
  if (xml.charCodeAt(end - 1) !== SLASH) {
    const close = xml.lastIndexOf('</');
    return xml.slice(0, close) + child + xml.slice(close);
  }
  const name = /^<([^\s/>]+)/.exec(xml)![1];
  return `${xml.slice(0, end - 1)}>${child}</${name}>`;
}

const SLASH = 0x2f;
