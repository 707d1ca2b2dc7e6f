// Stanza errors (RFC 6120 §8.3) and stream errors (§4.9), as the front end
// writes them.

import { Element, el } from '../xml/element.js';
import { escapeText } from '../xml/escape.js';

export const STANZAS_NS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
export const STREAM_ERRORS_NS = 'urn:ietf:params:xml:ns:xmpp-streams';

/** The conditions the front end raises, with the error type each goes with. */
const ERROR_TYPES = {
  'bad-request': 'modify',
  'conflict': 'cancel',
  'feature-not-implemented': 'cancel',
  'forbidden': 'auth',
  'internal-server-error': 'wait',
  'item-not-found': 'cancel',
  'jid-malformed': 'modify',
  'not-acceptable': 'modify',
  'not-allowed': 'cancel',
  'remote-server-not-found': 'cancel',
  'resource-constraint': 'wait',
  'service-unavailable': 'cancel',
} as const;

export type StanzaErrorCondition = keyof typeof ERROR_TYPES;

/**
 * The error answer to a stanza: same name and id, `from` and `to` swapped.
 * Undefined for stanzas that must not be answered with an error: errors
 * themselves and iq results.
 */
export function errorReply(stanza: Element, condition: StanzaErrorCondition, text?: string): Element | undefined {
  const type = stanza.attrs.type;
  if (type === 'error' || (stanza.name === 'iq' && type === 'result')) return undefined;
  const error = el('error', { type: ERROR_TYPES[condition] }, el(condition, { xmlns: STANZAS_NS }));
  if (text !== undefined) error.append(el('text', { xmlns: STANZAS_NS }, text));
  return el(stanza.name, { id: stanza.attrs.id, from: stanza.attrs.to, to: stanza.attrs.from, type: 'error' }, error);
}

/** The `<stream:error>` element, closing tag of the stream included. */
export function streamErrorXml(condition: string, text?: string): string {
  const textXml = text === undefined ? '' : `<text xmlns='${STREAM_ERRORS_NS}'>${escapeText(text)}</text>`;
  return `<stream:error><${condition} xmlns='${STREAM_ERRORS_NS}'/>${textXml}</stream:error></stream:stream>`;
}
