// Namespaces and the stanza shapes every part of the MUC service builds:
// replies and error replies (as Prosody's util.stanza makes them), and the
// muc#user `<item/>` that describes an occupant.

import { el, type Element } from '../xml/element.js';

export const NS_MUC = 'http://jabber.org/protocol/muc';
export const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
export const NS_MUC_ADMIN = 'http://jabber.org/protocol/muc#admin';
export const NS_MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
export const NS_REGISTER = 'jabber:iq:register';
export const NS_DATA = 'jabber:x:data';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
export const NS_DELAY = 'urn:xmpp:delay';

export type ErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';

export interface StanzaError {
  type: ErrorType;
  condition: string;
  text?: string;
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
 * is left out when it equals the reply's own `from`.
 */
export function errorReply(stanza: Element, error: StanzaError, by?: string): Element {
  const out = reply(stanza).setAttr('type', 'error');
  const errorEl = out.c('error', { type: error.type, by: by === out.attrs.from ? undefined : by });
  errorEl.c(error.condition, { xmlns: NS_STANZAS });
  if (error.text !== undefined) errorEl.c('text', { xmlns: NS_STANZAS }).append(error.text);
  return out;
}

/** `<x xmlns='…muc#user'/>` holding the given status codes, in order. */
export function mucUserX(...codes: string[]): Element {
  const x = el('x', { xmlns: NS_MUC_USER });
  for (const code of codes) x.c('status', { code });
  return x;
}

export interface ItemFields {
  affiliation: string;
  role?: string;
  jid?: string;
  nick?: string;
  actorNick?: string;
  actorJid?: string;
  reason?: string;
}

/** A muc#user (or muc#admin) `<item/>`: attributes, then `<actor/>` and `<reason/>`. */
export function item(fields: ItemFields): Element {
  const out = el('item', { affiliation: fields.affiliation, role: fields.role, jid: fields.jid, nick: fields.nick });
  if (fields.actorNick !== undefined || fields.actorJid !== undefined) {
    out.c('actor', { nick: fields.actorNick, jid: fields.actorJid });
  }
  if (fields.reason !== undefined) out.c('reason').append(fields.reason);
  return out;
}

/** The `<invite/>` of an invitation the room is sending (what 'invite' handlers change). */
export function inviteOf(stanza: Element): Element {
  return stanza.getChild('x', NS_MUC_USER)?.getChild('invite') as Element;
}

/**
 * Namespaces of payloads a client may not forge: stripped from what occupants
 * send before the room relays it (Prosody's filtered namespaces). A feature
 * whose payload the room adds (hats, …) registers its namespace here.
 */
const filteredNamespaces = new Set([NS_MUC, NS_MUC_USER]);

export function filterNamespace(xmlns: string): void {
  filteredNamespaces.add(xmlns);
}

/** The stanza without the payloads a client may not forge (`<x/>` of muc and muc#user, and the registered namespaces). */
export function withoutMucPayload(stanza: Element): Element {
  const copy = stanza.clone();
  copy.children = copy.children.filter((child) => typeof child === 'string' || !filteredNamespaces.has(child.attrs.xmlns as string));
  return copy;
}
