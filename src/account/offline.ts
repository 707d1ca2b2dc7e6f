// Offline messages (XEP-0160): a chat or normal message with a body for an
// account with no available session is kept, up to a cap per account, and
// delivered with its original time when the account next sends initial
// presence. Past the cap a message bounces as it would with no storage
// (service-unavailable), so the sender knows it was not kept.

import { Element, el } from '../xml/element.js';
import type { AccountContext } from './services.js';
import { BY_ACCOUNT_RANGE } from './stored-data.js';
import { NS_DELAY } from '../xmpp/namespaces.js';

const NS = 'msgoffline';

export default function offlineMessages({ services, database, settings, sessions, accountExists }: AccountContext): void {
  const store = database.openDB<Element, [string, number]>({ name: BY_ACCOUNT_RANGE.offline });
  const limit = settings.accounts.offline_messages;
  const kept = (bareJid: string) => store.getRange({ start: [bareJid], end: [bareJid, Infinity] });
  /** The last write; LMDB commits in order, so once it has, every message kept before it is readable. */
  let written: Promise<unknown> = Promise.resolve();

  services.feature(NS);
  services.hooks.on('message-undeliverable', ({ bareJid, stanza }) => {
    const type = stanza.attrs.type ?? 'normal';
    if ((type !== 'chat' && type !== 'normal') || stanza.getChild('body') === undefined) return undefined;
    if (limit === 0 || !accountExists(bareJid)) return undefined;
    let count = 0;
    let last = 0;
    for (const { key } of kept(bareJid)) {
      count++;
      last = key[1];
    }
    if (count >= limit) return undefined;
    const copy = stanza.clone().append(el('delay', { xmlns: NS_DELAY, from: settings.domain, stamp: new Date().toISOString() }));
    written = store.put([bareJid, Math.max(last + 1, Date.now())], copy);
    return true;
  });
  services.hooks.on('session-available', ({ session }) => {
    void written.then(() => {
      // A session gone meanwhile takes nothing: the messages wait for the next one.
      if (sessions.get(session.fullJid) !== session) return;
      const entries = [...kept(session.bareJid)];
      if (entries.length === 0) return;
      for (const { value } of entries) session.send(Element.revive(value).toString());
      written = database.transaction(() => {
        for (const { key } of entries) void store.remove(key);
      });
    });
  });
}
