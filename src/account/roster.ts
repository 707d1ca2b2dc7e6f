// The roster and presence subscriptions between local accounts (RFC 6121):
// roster get (with versioning) and set, pushes to the sessions that read the
// roster, the subscription state machine on both sides of a request, and the
// presence that subscriptions carry: an available or unavailable broadcast
// goes to the contacts subscribed to it, and initial presence brings back
// the presence of the contacts the account is subscribed to.

import { randomUUID } from 'node:crypto';
import { bareJid, jidDomain, prepJid } from '../jid/jid.js';
import type { BoundSession } from '../frontend/sessions.js';
import { el, type Element } from '../xml/element.js';
import type { AccountContext, IqRequest } from './services.js';
import { BY_ACCOUNT, BY_ACCOUNT_RANGE } from './stored-data.js';

const NS = 'jabber:iq:roster';
/** Contacts per account: a bot must not grow a roster without end (ejabberd and Prosody have no bound). */
const MAX_ITEMS = 2000;
/** RFC 6121 §2.1.2.4: handles and group names are at most 1023 bytes here. */
const MAX_TEXT = 1023;

type Subscription = 'none' | 'to' | 'from' | 'both';

interface RosterItem {
  name?: string;
  groups: string[];
  subscription: Subscription;
  /** We asked for the contact's presence and have no answer yet. */
  askOut: boolean;
  /** The contact asked for ours and we have not answered. */
  askIn: boolean;
  /** In the roster the user sees (false for an unanswered request from a stranger). */
  listed: boolean;
}

const has = (subscription: Subscription, direction: 'to' | 'from') => subscription === direction || subscription === 'both';
const withDirection = (subscription: Subscription, direction: 'to' | 'from', on: boolean): Subscription => {
  const to = direction === 'to' ? on : has(subscription, 'to');
  const from = direction === 'from' ? on : has(subscription, 'from');
  return to && from ? 'both' : to ? 'to' : from ? 'from' : 'none';
};

export default function roster({ services, database, sessions, settings, accountExists }: AccountContext): void {
  const items = database.openDB<RosterItem, [string, string]>({ name: BY_ACCOUNT_RANGE.roster });
  const versions = database.openDB<number, string>({ name: BY_ACCOUNT.roster_versions });
  const interested = new WeakSet<BoundSession>();

  // Writes not yet committed, so that the next stanza reads what the last one decided.
  const unwritten = new Map<string, RosterItem | undefined>();
  const unwrittenVersions = new Map<string, number>();
  const read = (account: string, contact: string): RosterItem | undefined => {
    const key = account + '\n' + contact;
    return unwritten.has(key) ? unwritten.get(key) : items.get([account, contact]);
  };
  const versionOf = (account: string): number => unwrittenVersions.get(account) ?? versions.get(account) ?? 0;
  /** The account's roster entries by contact, the committed ones overlaid with those being written. */
  const entries = (account: string): Map<string, RosterItem> => {
    const all = new Map<string, RosterItem>();
    for (const { key, value } of items.getRange({ start: [account], end: [account, '\uffff'] })) all.set(key[1], value);
    for (const [key, item] of unwritten) {
      const [owner, contact] = key.split('\n') as [string, string];
      if (owner !== account) continue;
      if (item === undefined) all.delete(contact);
      else all.set(contact, item);
    }
    return all;
  };
  const local = (jid: string) => jidDomain(jid) === settings.domain && bareJid(jid) !== settings.domain && accountExists(jid);
  /** A block list on either side stops presence between the two accounts, whatever their subscription (XEP-0191). */
  const blocked = (account: string, contact: string) => services.hooks.fire('presence-blocked', { from: account, to: contact }) === true;

  const itemElement = (contact: string, item: RosterItem, removed = false): Element =>
    removed
      ? el('item', { jid: contact, subscription: 'remove' })
      : el('item', { jid: contact, name: item.name, subscription: item.subscription, ask: item.askOut ? 'subscribe' : undefined }, ...item.groups.map((group) => el('group', {}, group)));

  /** Writes the item (or removes it), bumps the roster's version, and pushes the change to the sessions that read the roster. */
  const save = async (account: string, contact: string, item: RosterItem | undefined): Promise<void> => {
    const before = read(account, contact);
    const version = versionOf(account) + 1;
    const kept = item === undefined || (!item.listed && !item.askIn) ? undefined : item;
    const key = account + '\n' + contact;
    unwritten.set(key, kept);
    unwrittenVersions.set(account, version);
    const written = database.acknowledged(
      database.transaction(() => {
        if (kept === undefined) void items.remove([account, contact]);
        else void items.put([account, contact], kept);
        void versions.put(account, version);
      }),
    );
    const shown = item?.listed ? item : before?.listed ? before : undefined;
    if (shown === undefined) return written.then(() => undefined);
    const query = el('query', { xmlns: NS, ver: String(version) }, itemElement(contact, shown, !item?.listed));
    for (const session of sessions.resources(account)) {
      if (interested.has(session)) session.send(el('iq', { type: 'set', id: randomUUID(), to: session.fullJid }, query.clone()).toString());
    }
    await written;
    if (unwritten.get(key) === kept) unwritten.delete(key);
    if (unwrittenVersions.get(account) === version) unwrittenVersions.delete(account);
  };

  const newItem = (): RosterItem => ({ groups: [], subscription: 'none', askOut: false, askIn: false, listed: false });

  const handle = async ({ session, stanza, query, target }: IqRequest) => {
    if (target.kind === 'account' && target.bareJid !== session.bareJid) return { error: 'forbidden' } as const;
    const account = session.bareJid;
    if (stanza.attrs.type === 'get') {
      interested.add(session);
      const version = String(versionOf(account));
      // RFC 6121 §2.6.3: the client's copy is current; the changes it misses come as pushes.
      if (query.attrs.ver === version) return null;
      const list = el('query', { xmlns: NS, ver: version });
      for (const [contact, item] of entries(account)) if (item.listed) list.append(itemElement(contact, item));
      return list;
    }
    const children = query.getChildren('item');
    if (children.length !== 1) return { error: 'bad-request', text: 'A roster set carries exactly one item' } as const;
    const requested = children[0]!;
    const contact = prepJid(requested.attrs.jid ?? '');
    if (contact === null) return { error: 'bad-request', text: 'Invalid JID' } as const;
    const current = read(account, contact);
    if (requested.attrs.subscription === 'remove') {
      if (!current?.listed) return { error: 'item-not-found' } as const;
      // §2.5.2: removing a contact cancels the subscriptions both ways (one push: the removal).
      const saved = save(account, contact, undefined);
      if (has(current.subscription, 'to') || current.askOut) tellContact(session, contact, 'unsubscribe');
      if (has(current.subscription, 'from') || current.askIn) tellContact(session, contact, 'unsubscribed');
      await saved;
      return null;
    }
    const groups = requested.getChildren('group').map((group) => group.text());
    const name = requested.attrs.name;
    if (groups.some((group) => group === '' || Buffer.byteLength(group) > MAX_TEXT) || new Set(groups).size !== groups.length) {
      return { error: 'not-acceptable', text: 'Groups must be distinct, non-empty and at most 1023 bytes' } as const;
    }
    if (name !== undefined && Buffer.byteLength(name) > MAX_TEXT) return { error: 'not-acceptable', text: 'The name is too long' } as const;
    if (!current?.listed && entries(account).size >= MAX_ITEMS) {
      return { error: 'resource-constraint', text: `At most ${MAX_ITEMS} contacts` } as const;
    }
    await save(account, contact, { ...(current ?? newItem()), name: name === '' ? undefined : name, groups, listed: true });
    return null;
  };

  /** The account's own subscription request or answer (§3): its roster changes, and a local contact's too. */
  const subscriptionOut = (session: BoundSession, contact: string, type: string): void => {
    const account = session.bareJid;
    const item = { ...(read(account, contact) ?? newItem()) };
    if (type === 'subscribe') {
      if (has(item.subscription, 'to')) return;
      Object.assign(item, { askOut: true, listed: true });
    } else if (type === 'unsubscribe') {
      if (!has(item.subscription, 'to') && !item.askOut) return;
      Object.assign(item, { askOut: false, subscription: withDirection(item.subscription, 'to', false) });
    } else if (type === 'subscribed') {
      if (has(item.subscription, 'from') || !item.askIn) return; // §3.1.5: nothing was asked (pre-approval is not offered)
      Object.assign(item, { askIn: false, subscription: withDirection(item.subscription, 'from', true), listed: true });
    } else {
      if (!has(item.subscription, 'from') && !item.askIn) return;
      Object.assign(item, { askIn: false, subscription: withDirection(item.subscription, 'from', false) });
    }
    void save(account, contact, item);
    tellContact(session, contact, type);
  };

  /** Routes the account's request or answer to the contact, with the presence it grants or withdraws. */
  const tellContact = (session: BoundSession, contact: string, type: string): void => {
    const account = session.bareJid;
    // An approval's presence goes with it, in subscriptionIn (once: sent here as well, it reached the new subscriber twice).
    if (local(contact)) subscriptionIn(contact, account, type);
    if (type === 'unsubscribed') for (const own of sessions.availableResources(account)) sendUnavailable(own.fullJid, contact);
  };

  /** A subscription request or answer from `from` for the local account (§3, the contact's server). */
  const subscriptionIn = (account: string, from: string, type: string): void => {
    const item = { ...(read(account, from) ?? newItem()) };
    let deliver = true;
    if (type === 'subscribe') {
      if (has(item.subscription, 'from')) {
        // §3.1.3: already approved; the server answers for the user.
        subscriptionIn(from, account, 'subscribed');
        return;
      }
      item.askIn = true;
    } else if (type === 'subscribed') {
      if (!item.askOut) return;
      Object.assign(item, { askOut: false, subscription: withDirection(item.subscription, 'to', true) });
    } else if (type === 'unsubscribe') {
      deliver = has(item.subscription, 'from') || item.askIn;
      Object.assign(item, { askIn: false, subscription: withDirection(item.subscription, 'from', false) });
    } else {
      deliver = has(item.subscription, 'to') || item.askOut;
      Object.assign(item, { askOut: false, subscription: withDirection(item.subscription, 'to', false) });
    }
    // §3.1.3: a request goes to the available resources; §3.1.6, §3.2.3, §3.3.3: an answer to the interested ones, then the roster push.
    if (deliver) {
      const recipients = type === 'subscribe' ? sessions.availableResources(account) : [...sessions.resources(account)].filter((session) => interested.has(session));
      for (const session of recipients) session.send(el('presence', { from, to: session.fullJid, type }).toString());
    }
    void save(account, from, item);
    if (!deliver) return;
    // Once subscribed, the new subscriber sees the contact's presence at once.
    if (type === 'subscribed') for (const contact of sessions.availableResources(from)) sendPresence(contact, account);
  };

  const sendPresence = (from: BoundSession, to: string): void => {
    const presence = from.presence;
    if (presence === undefined || blocked(from.bareJid, to)) return;
    for (const target of sessions.availableResources(to)) target.send(presence.clone().setAttr('to', target.fullJid).toString());
  };
  const sendUnavailable = (from: string, to: string): void => {
    if (blocked(bareJid(from), to)) return;
    for (const target of sessions.availableResources(to)) target.send(el('presence', { from, to: target.fullJid, type: 'unavailable' }).toString());
  };

  services.feature(NS);
  services.iq('query', NS, 'both', handle);
  const contactsWith = (account: string, direction: 'to' | 'from'): string[] =>
    [...entries(account)].filter(([contact, item]) => has(item.subscription, direction) && local(contact) && !blocked(account, contact)).map(([contact]) => contact);
  services.hooks.on('presence-subscriber', ({ owner, contact }) => {
    const item = read(owner, contact);
    return item !== undefined && has(item.subscription, 'from') && !blocked(owner, contact) ? true : undefined;
  });
  services.hooks.on('presence-subscribers', ({ owner }) => contactsWith(owner, 'from'));
  services.hooks.on('presence-subscriptions', ({ account }) => contactsWith(account, 'to'));
  services.hooks.on('presence-subscription', ({ session, stanza }) => {
    subscriptionOut(session, bareJid(stanza.attrs.to!), stanza.attrs.type!);
    return true;
  });
  // §4.2, §4.5: a broadcast goes to the contacts subscribed to the account; initial presence probes those it is subscribed to.
  services.hooks.on('presence-broadcast', ({ session, stanza, initial }) => {
    const available = stanza.attrs.type !== 'unavailable';
    for (const [contact, value] of entries(session.bareJid)) {
      if (!local(contact) || blocked(session.bareJid, contact)) continue;
      if (has(value.subscription, 'from')) {
        for (const target of sessions.availableResources(contact)) target.send(stanza.clone().setAttr('to', target.fullJid).toString());
      }
      if (available && initial && has(value.subscription, 'to')) {
        for (const other of sessions.availableResources(contact)) {
          if (other.presence) session.send(other.presence.clone().setAttr('to', session.fullJid).toString());
        }
      }
      // §3.1.3: a request that came while the account was offline is shown when it comes online.
      if (available && initial && value.askIn) session.send(el('presence', { from: contact, to: session.fullJid, type: 'subscribe' }).toString());
    }
  });
}
