// Blocking command (XEP-0191): an account's list of JIDs it wants nothing
// from. Messages from a blocked entity are dropped before they reach any of
// the account's sessions; a message to one is refused with <blocked/>.
// Changes are pushed to every session that has asked for the list.

import { randomUUID } from 'node:crypto';
import { bareJid, jidDomain, jidResource, prepJid } from '../jid/jid.js';
import type { BoundSession } from '../frontend/sessions.js';
import { el } from '../xml/element.js';
import type { AccountContext, IqRequest } from './services.js';
import { BY_ACCOUNT } from './stored-data.js';
import { NS_STANZAS } from '../xmpp/namespaces.js';

const NS = 'urn:xmpp:blocking';
const ERRORS_NS = 'urn:xmpp:blocking:errors';
/** Per account: a list longer than this is refused (ejabberd's privacy lists have no bound; a user could grow one without end). */
const MAX_ITEMS = 1000;

export default function blocking({ services, database, sessions }: AccountContext): void {
  const store = database.openDB<string[], string>({ name: BY_ACCOUNT.blocklists });
  /** The lists of accounts with sessions, read on first use. */
  const cache = new Map<string, Set<string>>();
  const interested = new WeakSet<BoundSession>();

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
    if (query.name === 'block') {
      const added = jids.filter((jid) => !list.has(jid)).length;
      if (list.size + added > MAX_ITEMS) return { error: 'resource-constraint', text: `At most ${MAX_ITEMS} blocked JIDs` } as const;
      for (const jid of jids) list.add(jid);
    } else {
      for (const jid of unblocked) list.delete(jid);
    }
    await database.acknowledged(store.put(session.bareJid, [...list]));
    const push = el(query.name, { xmlns: NS }, ...(query.name === 'block' ? jids : jids.length === 0 ? [] : unblocked).map((jid) => el('item', { jid })));
    for (const other of sessions.resources(session.bareJid)) {
      if (interested.has(other)) other.send(el('iq', { type: 'set', id: randomUUID(), to: other.fullJid }, push.clone()).toString());
    }
    return null;
  };

  /** XEP-0191 §3.4 matching: full JID, bare JID, domain/resource, domain. */
  const blocks = (account: string, jid: string): boolean => {
    const list = listOf(account);
    if (list.size === 0) return false;
    const domain = jidDomain(jid);
    const resource = jidResource(jid);
    return list.has(jid) || list.has(bareJid(jid)) || (resource !== '' && list.has(domain + '/' + resource)) || list.has(domain);
  };

  services.feature(NS);
  // Lists are read once per account with sessions, and forgotten with its last session.
  services.hooks.on('session-ended', ({ session }) => {
    if ([...sessions.resources(session.bareJid)].length === 0) cache.delete(session.bareJid);
  });
  for (const name of ['blocklist', 'block', 'unblock']) services.iq(name, NS, 'both', handle);
  services.hooks.on('message-in', ({ target, stanza }) => (blocks(target.bareJid, stanza.attrs.from ?? '') ? true : undefined));
  services.hooks.on('message-out', ({ session, stanza }) => {
    const to = stanza.attrs.to;
    if (to === undefined || !blocks(session.bareJid, to)) return undefined;
    const error = el('message', { type: 'error', id: stanza.attrs.id, from: to, to: session.fullJid },
      el('error', { type: 'cancel' },
        el('not-acceptable', { xmlns: NS_STANZAS }),
        el('blocked', { xmlns: ERRORS_NS })));
    session.send(error.toString());
    return true;
  });
}
