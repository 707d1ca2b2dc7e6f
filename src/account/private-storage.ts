// Private XML storage (XEP-0049): an account keeps elements by qualified
// name, readable only by itself. Legacy bookmarks (storage:bookmarks) live
// here for clients that have no PEP bookmarks.

import { Element, el } from '../xml/element.js';
import type { AccountContext, IqRequest } from './services.js';
import { BY_ACCOUNT_RANGE } from './stored-data.js';

const NS = 'jabber:iq:private';
/** Per account: the elements it keeps, at most this many (each within the stanza size limit). */
const MAX_ELEMENTS = 100;

export default function privateStorage({ services, database }: AccountContext): void {
  const store = database.openDB<Element, [string, string]>({ name: BY_ACCOUNT_RANGE.private });
  const handle = async ({ session, stanza, query, target }: IqRequest) => {
    if (target.kind === 'account' && target.bareJid !== session.bareJid) return { error: 'forbidden' } as const;
    const payloads = query.elements();
    // XEP-0049 §3: exactly one child, in a namespace other than jabber:* ones.
    if (payloads.length !== 1) return { error: 'not-acceptable' } as const;
    const payload = payloads[0]!;
    const ns = payload.attrs.xmlns;
    if (ns === undefined || ns.startsWith('jabber:')) return { error: 'not-acceptable' } as const;
    const key: [string, string] = [session.bareJid, payload.name + ' ' + ns];
    if (stanza.attrs.type === 'get') {
      const stored = store.get(key);
      return el('query', { xmlns: NS }, stored === undefined ? payload : Element.revive(stored));
    }
    if (store.get(key) === undefined && countKept(session.bareJid) >= MAX_ELEMENTS) return { error: 'resource-constraint' } as const;
    await database.acknowledged(store.put(key, payload));
    return null;
  };
  const countKept = (bareJid: string): number =>
    store.getKeysCount({ start: [bareJid], end: [bareJid, '\uffff'] });
  services.feature(NS);
  services.iq('query', NS, 'both', handle);
}
