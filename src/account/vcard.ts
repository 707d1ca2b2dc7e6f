// vCard-temp (XEP-0054): an account sets its own vCard; anyone may read any
// account's. An account without one reads as an empty vCard, as ejabberd
// answers (Prosody says item-not-found; clients treat both as "no vCard").

import { Element, el } from '../xml/element.js';
import type { AccountContext, IqRequest } from './services.js';
import { BY_ACCOUNT } from './stored-data.js';

const NS = 'vcard-temp';

export default function vcards({ services, database }: AccountContext): void {
  const store = database.openDB<Element, string>({ name: BY_ACCOUNT.vcards });
  services.feature(NS);
  const handle = async ({ session, stanza, query, target }: IqRequest) => {
    const owner = target.kind === 'account' ? target.bareJid : session.bareJid;
    if (stanza.attrs.type === 'get') {
      const stored = store.get(owner);
      return stored === undefined ? el('vCard', { xmlns: NS }) : Element.revive(stored);
    }
    if (owner !== session.bareJid) return { error: 'forbidden' } as const;
    await database.acknowledged(store.put(owner, query));
    return null;
  };
  services.iq('vCard', NS, 'both', handle);
}
