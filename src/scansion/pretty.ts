// Indented XML for failure reports, one element per line. Whitespace-only text
// is layout and dropped; an element whose only content is text stays on one line.

import { escapeAttribute, escapeText } from '../xml/escape.js';
import type { Element } from '../xml/element.js';

export function prettyPrint(element: Element, indent = ''): string {
  let open = indent + '<' + element.name;
  for (const [name, value] of Object.entries(element.attrs)) open += ` ${name}='${escapeAttribute(value)}'`;
  const content = element.children.filter((child) => typeof child !== 'string' || child.trim() !== '');
  if (content.length === 0) return open + '/>';
  const close = `</${element.name}>`;
  if (content.every((child) => typeof child === 'string')) {
    return `${open}>${escapeText(element.text().trim())}${close}`;
  }
  const lines = content.map((child) =>
    typeof child === 'string' ? indent + '  ' + escapeText(child.trim()) : prettyPrint(child, indent + '  '),
  );
  return [open + '>', ...lines, indent + close].join('\n');
}
