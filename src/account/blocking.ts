// Blocking command (XEP-0191): an account's list of JIDs it wants nothing
// from. Stanzas from a blocked entity are refused before they are routed
// (never kept offline; a request is answered service-unavailable); what the
// account sends one is refused with <blocked/>. Presence the roster sends
// between two accounts (broadcasts, the answers to initial presence) stops
// at a block on either side, as Prosody's mod_blocklist has it: blocking a
// contact that sees the account's presence sends it unavailable presence,
// and unblocking sends the current presence again. Changes are pushed to
// every session that has asked for the list.
//
// The rooms' traffic is matched the same way, by the JID it comes from
// (XEP-0191 §3.4, as Prosody's mod_blocklist): blocking an occupant JID
// (room@service/nick) drops that nick's private messages, groupchat
// messages and presence; blocking a room's JID drops everything from the
// room. A private message through a room is also dropped when the user
// behind the nick is blocked by real JID (beyond Prosody, which matches only
// the in-room JID): blocking someone should not leave them a way round it
// through any room both are in. Only iq requests get an error
// (service-unavailable, §3.5): an error message sent back through the room
// would reach the occupant as if from the user, and a room kicks an occupant
// whose client bounces.

import { randomUUID } from 'node:crypto';
import { bareJid, jidDomain, jidResource, prepJid } from '../jid/jid.js';
import type { BoundSession } from '../frontend/sessions.js';
import { addressedTo } from '../runtime/shard-channel.js';
import { el, type Element } from '../xml/element.js';
import { parseElement } from '../xml/stream-parser.js';
import type { AccountContext, IqRequest } from './services.js';
import { BY_ACCOUNT } from './stored-data.js';
import { errorAnswer, errorReply, isAnswerable } from '../xmpp/errors.js';

const NS = 'urn:xmpp:blocking';
const ERRORS_NS = 'urn:xmpp:blocking:errors';
/** Per account: a list longer than this is refused (ejabberd's privacy lists have no bound; a user could grow one without end). */
const MAX_ITEMS = 1000;

export default function blocking({ services, database, sessions, settings, roomOccupants }: AccountContext): void {
  const store = database.openDB<string[], string>({ name: BY_ACCOUNT.blocklists });
  /** The lists of accounts with sessions, read on first use. */
  const cache = new Map<string, Set<string>>();
  const interested = new WeakSet<BoundSession>();
  /** Per account in `cache`: whether its list names the MUC service, a room or an occupant (only then is every room stanza to it looked at; with any list, its room messages are, for private messages from a blocked user). */
  const blocksRooms = new Map<string, boolean>();

  const listOf = (account: string): Set<string> => {
    let list = cache.get(account);
    if (list === undefined) cache.set(account, (list = new Set(store.get(account) ?? [])));
    return list;
  };

  const handle = async ({ session, stanza, query, target }: IqRequest) => {
    if (target.kind === 'account' && target.bareJid !== session.bareJid) return { error: 'forbidden' } as const;
    const list = listOf(session.bareJid);
    if (stanza.attrs.type === 'get') {
      if (query.name !== 'blocklist') return { error: 'bad-request' } as const;
      interested.add(session);
      return el('blocklist', { xmlns: NS }, ...[...list].map((jid) => el('item', { jid })));
    }
    if (query.name === 'blocklist') return { error: 'bad-request' } as const;
    const jids: string[] = [];
    for (const item of query.getChildren('item')) {
      const jid = prepJid(item.attrs.jid ?? '');
      if (jid === null) return { error: 'bad-request', text: 'Invalid JID in the item list' } as const;
      jids.push(jid);
    }
    // XEP-0191 §3.3: a block needs items; an unblock without items unblocks everyone.
    if (query.name === 'block' && jids.length === 0) return { error: 'bad-request' } as const;
    const unblocked = query.name === 'unblock' && jids.length === 0 ? [...list] : jids;
    const added = query.name === 'block' ? jids.filter((jid) => !list.has(jid)) : [];
    // §3.3: a newly blocked contact that sees the user's presence sees the user go offline (asked before the block hides it).
    const sawPresence = added.filter((jid) => seesPresence(session.bareJid, jid));
    if (query.name === 'block') {
      if (list.size + added.length > MAX_ITEMS) return { error: 'resource-constraint', text: `At most ${MAX_ITEMS} blocked JIDs` } as const;
      for (const jid of jids) list.add(jid);
    } else {
      for (const jid of unblocked) list.delete(jid);
    }
    blocksRooms.delete(session.bareJid);
    services.roomWatchChanged(session.bareJid);
    await database.acknowledged(store.put(session.bareJid, [...list]));
    for (const jid of sawPresence) {
      for (const own of sessions.availableResources(session.bareJid)) {
        for (const target of sessions.availableResources(bareJid(jid))) target.send(el('presence', { type: 'unavailable', from: own.fullJid, to: target.fullJid }).toString());
      }
    }
    // §3.4: once unblocked, presence flows again both ways where subscriptions allow, beginning with the current one.
    for (const jid of query.name === 'unblock' ? unblocked : []) {
      if (seesPresence(session.bareJid, jid)) sendPresence(session.bareJid, bareJid(jid));
      if (seesPresence(bareJid(jid), session.bareJid)) sendPresence(bareJid(jid), session.bareJid);
    }
    // The pushes follow the result (as in XEP-0191's examples and Prosody): the router sends it once this handler returns.
    const push = el(query.name, { xmlns: NS }, ...(query.name === 'block' ? jids : jids.length === 0 ? [] : unblocked).map((jid) => el('item', { jid })));
    setImmediate(() => {
      for (const other of sessions.resources(session.bareJid)) {
        if (interested.has(other)) other.send(el('iq', { type: 'set', id: randomUUID(), to: other.fullJid }, push.clone()).toString());
      }
    });
    return null;
  };

  const seesPresence = (owner: string, contact: string): boolean => services.hooks.fire('presence-subscriber', { owner, contact: bareJid(contact) }) === true;
  /** The available presence of each of `owner`'s resources, to each of `contact`'s. */
  const sendPresence = (owner: string, contact: string): void => {
    for (const own of sessions.availableResources(owner)) {
      for (const target of sessions.availableResources(contact)) if (own.presence) target.send(own.presence.clone().setAttr('to', target.fullJid).toString());
    }
  };

  /** XEP-0191 §3.4 matching: full JID, bare JID, domain/resource, domain. An account without sessions is read, not cached. */
  const blocks = (account: string, jid: string): boolean => {
    const list = cache.get(account) ?? new Set(store.get(account) ?? []);
    if (list.size === 0) return false;
    const domain = jidDomain(jid);
    const resource = jidResource(jid);
    return list.has(jid) || list.has(bareJid(jid)) || (resource !== '' && list.has(domain + '/' + resource)) || list.has(domain);
  };

  services.feature(NS);
  // Lists are read once per account with sessions, and forgotten with its last session.
  services.hooks.on('session-ended', ({ session }) => {
    if ([...sessions.resources(session.bareJid)].length !== 0) return;
    cache.delete(session.bareJid);
    blocksRooms.delete(session.bareJid);
  });
  for (const name of ['blocklist', 'block', 'unblock']) services.iq(name, NS, 'both', handle);
  /** Whether `to` is a local account whose list blocks `from`. */
  const blockedBy = (to: string, from: string): boolean => {
    const domain = jidDomain(to);
    return (domain === settings.domain || domain === settings.auth.guest_domain) && bareJid(to) !== domain && blocks(bareJid(to), from);
  };
  const mucDomain = settings.muc.domain;
  const anyRoomBlocked = (account: string): boolean => {
    let known = blocksRooms.get(account);
    if (known === undefined) blocksRooms.set(account, (known = [...listOf(account)].some((jid) => jidDomain(jid) === mucDomain)));
    return known;
  };
  /** A private message through a room from or to (`occupant`) a user the account blocked by real JID. */
  const privateWithBlockedUser = (account: string, occupant: string, stanza: Element): boolean => {
    const type = stanza.attrs.type;
    if (stanza.name !== 'message' || type === 'groupchat' || type === 'error' || jidDomain(occupant) !== mucDomain) return false;
    return roomOccupants(occupant).some((jid) => blocks(account, jid));
  };
  // An account with a list has its room stanzas looked at below: with I/O threads they must come through the router.
  services.watchRooms((account) => listOf(account).size > 0);
  services.hooks.on('room-delivery', ({ target, delivery, jid, toMuc }) => {
    const account = target.bareJid;
    const mayBePrivateMessage = delivery.head === '<message' && listOf(account).size > 0;
    if (!mayBePrivateMessage && !anyRoomBlocked(account)) return undefined;
    // A delivery to one session may carry several stanzas (a join's presences, history): each is judged by its sender.
    const stanzas = parseElement('<batch>' + addressedTo(delivery, jid) + '</batch>').elements();
    for (const stanza of stanzas) {
      const from = stanza.attrs.from ?? '';
      if (!blocks(account, from) && !privateWithBlockedUser(account, from, stanza)) target.send(stanza.toString());
      else if (stanza.name === 'iq') {
        const error = errorAnswer(stanza, 'service-unavailable');
        if (error) toMuc(error);
      }
    }
    return true;
  });
  /** Refuses a stanza to an account here whose list blocks its sender: true if so. */
  const refusedByRecipient = (stanza: Element, from: string, to: string, answer: (error: Element) => void): boolean => {
    if (!blockedBy(to, from)) return false;
    const error = incomingRefusal(stanza, to);
    if (error) answer(error);
    return true;
  };
  services.hooks.on('stanza-out', ({ session, stanza }) => {
    const to = stanza.attrs.to;
    if (to === undefined) return undefined;
    if (refusedByRecipient(stanza, session.fullJid, to, (error) => session.send(error.toString()))) return true;
    // Unavailable presence only withdraws (a room the user blocked can still be left).
    if (stanza.name === 'presence' && stanza.attrs.type === 'unavailable') return undefined;
    if (!blocks(session.bareJid, to) && !privateWithBlockedUser(session.bareJid, to, stanza)) return undefined;
    // §3.5: whatever else the user sends a blocked JID is refused; an error or an iq result just goes nowhere.
    if (isAnswerable(stanza)) {
      const error = errorReply(stanza, { type: 'cancel', condition: 'not-acceptable' });
      error.getChild('error')!.c('blocked', { xmlns: ERRORS_NS });
      session.send(error.toString());
    }
    return true;
  });
  // From another node, whose store does not have the recipient's list (each node keeps its own users'): judged here.
  services.hooks.on('stanza-in', ({ stanza, answer }) => {
    const { from, to } = stanza.attrs;
    return from !== undefined && to !== undefined && refusedByRecipient(stanza, from, to, answer) ? true : undefined;
  });
  // Presence between accounts that the roster sends (broadcasts, probes' answers) stops at a block on either side.
  services.hooks.on('presence-blocked', ({ from, to }) => (blockedBy(to, from) || blockedBy(from, to) ? true : undefined));
}

/**
 * The answer to a stanza from a blocked JID (§3.4), which is never delivered
 * nor kept offline: a request (iq get or set) is answered service-unavailable,
 * as is a chat or normal message to the bare JID (to a full JID it is dropped,
 * as Prosody does); presence and everything else is dropped silently.
 */
function incomingRefusal(stanza: Element, to: string): Element | undefined {
  const type = stanza.attrs.type ?? 'normal';
  if (stanza.name === 'iq') return type === 'get' || type === 'set' ? errorAnswer(stanza, 'service-unavailable') : undefined;
  if (stanza.name !== 'message' || jidResource(to) !== '' || (type !== 'chat' && type !== 'normal')) return undefined;
  return errorAnswer(stanza, 'service-unavailable');
}
