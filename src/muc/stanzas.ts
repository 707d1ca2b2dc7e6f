// Namespaces and the stanza shapes every part of the MUC service builds: the
// muc#user `<item/>` that describes an occupant, and the XMPP replies and error
// replies of src/xmpp, passed on so that a feature imports its shapes from one place.

import { el, type Element } from '../xml/element.js';
import { NS_MUC, NS_MUC_USER } from '../xmpp/namespaces.js';

export {
  NS_DATA,
  NS_DELAY,
  NS_DISCO_INFO,
  NS_DISCO_ITEMS,
  NS_MUC,
  NS_MUC_USER,
  NS_STANZAS,
} from '../xmpp/namespaces.js';
export { errorReply, isAnswerable, reply, type ErrorType, type StanzaError } from '../xmpp/errors.js';

export const NS_MUC_ADMIN = 'http://jabber.org/protocol/muc#admin';
export const NS_MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
export const NS_REGISTER = 'jabber:iq:register';

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
