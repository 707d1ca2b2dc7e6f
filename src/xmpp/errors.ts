// Replies, stanza errors (RFC 6120 §8.3) and stream errors (§4.9): the one
// builder every part of the server answers with, and the rule of which
// stanzas take an answer at all.

import { Element, el } from '../xml/element.js';
import { escapeText } from '../xml/escape.js';
import { NS_STANZAS, NS_STREAM_ERRORS } from './namespaces.js';

export type ErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';

export interface StanzaError {
  type: ErrorType;
  condition: string;
  text?: string;
}

/** The conditions the server raises by name, with the error type each goes with. */
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
} as const satisfies Record<string, ErrorType>;

export type StanzaErrorCondition = keyof typeof ERROR_TYPES;

/** The error of a condition, with the type that goes with it. */
export function stanzaError(condition: StanzaErrorCondition, text?: string): StanzaError {
  return { type: ERROR_TYPES[condition], condition, text };
}

/**
 * Whether a stanza may be answered with an error (RFC 6120 §8.3.1): never an
 * error itself, which could loop, nor an iq result, which nobody waits on.
 */
export function isAnswerable(stanza: Element): boolean {
  const type = stanza.attrs.type;
  return type !== 'error' && !(stanza.name === 'iq' && type === 'result');
}

/** A reply with `to`/`from` swapped and the id kept; an iq reply is a result. */
export function reply(stanza: Element): Element {
  return el(stanza.name, {
    to: stanza.attrs.from,
    from: stanza.attrs.to,
    id: stanza.attrs.id,
    type: stanza.name === 'iq' ? 'result' : stanza.attrs.type,
  });
}

/**
 * An error reply. `by` names the entity that found the error; like Prosody it
 * is left out when it equals the reply's own `from`. The caller checks
 * `isAnswerable` first, or uses `errorAnswer`.
 */
export function errorReply(stanza: Element, error: StanzaError, by?: string): Element {
  const out = reply(stanza).setAttr('type', 'error');
  const errorEl = out.c('error', { type: error.type, by: by === out.attrs.from ? undefined : by });
  errorEl.c(error.condition, { xmlns: NS_STANZAS });
  if (error.text !== undefined) errorEl.c('text', { xmlns: NS_STANZAS }).append(error.text);
  return out;
}

/** The error answer to a stanza, undefined for one that must not be answered (see `isAnswerable`). */
export function errorAnswer(stanza: Element, condition: StanzaErrorCondition, text?: string): Element | undefined {
  return isAnswerable(stanza) ? errorReply(stanza, stanzaError(condition, text)) : undefined;
}

/** The `<stream:error>` element, closing tag of the stream included. */
export function streamErrorXml(condition: string, text?: string): string {
  const textXml = text === undefined ? '' : `<text xmlns='${NS_STREAM_ERRORS}'>${escapeText(text)}</text>`;
  return `<stream:error><${condition} xmlns='${NS_STREAM_ERRORS}'/>${textXml}</stream:error></stream:stream>`;
}
