// Message carbons (XEP-0280): a session that enables them gets a copy of the
// chat messages its account's other sessions send ("sent") and of those
// delivered to another of its resources ("received"), so every device of a
// user shows the whole conversation.

import { jidDomain } from '../jid/jid.js';
import type { BoundSession } from '../frontend/sessions.js';
import { el, type Element } from '../xml/element.js';
import type { AccountContext } from './services.js';
import { NS_CLIENT as CLIENT_NS, NS_FORWARD as FORWARD_NS, NS_HINTS as HINTS_NS, NS_MUC_USER as MUC_USER_NS } from '../xmpp/namespaces.js';

const NS = 'urn:xmpp:carbons:2';

export default function carbons({ services, sessions, settings }: AccountContext): void {
  const enabled = new WeakSet<BoundSession>();

  /** XEP-0280 §6: chat messages, and normal ones with a body; not those marked private or no-copy. */
  const eligible = (stanza: Element): boolean => {
    const type = stanza.attrs.type ?? 'normal';
    if (type !== 'chat' && !(type === 'normal' && stanza.getChild('body') !== undefined)) return false;
    if (stanza.getChild('private', NS) || stanza.getChild('no-copy', HINTS_NS)) return false;
    // A private message through a room is copied only when the room marks it as one (§6.1).
    if (jidDomain(stanza.attrs.to ?? '') === settings.muc.domain) return stanza.getChild('x', MUC_USER_NS) !== undefined;
    return true;
  };

  const copy = (direction: 'sent' | 'received', account: string, stanza: Element, skip: (session: BoundSession) => boolean): void => {
    for (const other of sessions.resources(account)) {
      if (!enabled.has(other) || skip(other)) continue;
      // XEP-0297: the forwarded stanza keeps its own namespace, not the wrapper's.
      const forwarded = el('forwarded', { xmlns: FORWARD_NS }, stanza.clone().setAttr('xmlns', CLIENT_NS));
      other.send(el('message', { from: account, to: other.fullJid, type: stanza.attrs.type ?? 'normal' }, el(direction, { xmlns: NS }, forwarded)).toString());
    }
  };

  services.feature(NS);
  services.iq('enable', NS, 'server', ({ session, stanza }) => {
    if (stanza.attrs.type !== 'set') return { error: 'bad-request' };
    enabled.add(session);
    return null;
  });
  services.iq('disable', NS, 'server', ({ session, stanza }) => {
    if (stanza.attrs.type !== 'set') return { error: 'bad-request' };
    enabled.delete(session);
    return null;
  });
  services.hooks.on('stanza-out', ({ session, stanza }) => {
    if (stanza.name === 'message' && eligible(stanza)) copy('sent', session.bareJid, stanza, (other) => other === session);
    return undefined;
  }, -10);
  services.hooks.on('message-delivered', ({ bareJid, stanza, targets }) => {
    if (eligible(stanza)) copy('received', bareJid, stanza, (other) => targets.includes(other));
  });
}
