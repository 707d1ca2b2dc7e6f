// Guests (SASL ANONYMOUS at `auth.guest_domain`) have no account: nothing is
// stored for them. Their requests to change what an account keeps (roster,
// vCard, private storage, PEP, blocking list, carbons) are refused, and so
// are their presence subscriptions, which would put them in a roster. What
// only reads (an empty roster, anyone's vCard) is answered as for anyone, and
// messages to a guest without a session bounce: an offline store needs an
// account (services.ts's accountExists).

import { errorAnswer } from '../xmpp/errors.js';
import { jidDomain } from '../jid/jid.js';
import type { AccountContext } from './services.js';

/** Before the modules that would store. */
const FIRST = 100;

export default function guests({ services, settings }: AccountContext): void {
  const guestDomain = settings.auth.guest_domain;
  if (guestDomain === null) return;
  const isGuest = (bareJid: string) => jidDomain(bareJid) === guestDomain;

  services.hooks.on(
    'service-iq',
    ({ session, stanza }) => (isGuest(session.bareJid) && stanza.attrs.type === 'set' ? { error: 'not-allowed', text: 'Guests have no account to keep this in' } : undefined),
    FIRST,
  );
  services.hooks.on(
    'presence-subscription',
    ({ session, stanza }) => {
      if (!isGuest(session.bareJid)) return undefined;
      const error = errorAnswer(stanza, 'not-allowed', 'Guests have no roster');
      if (error) session.send(error.toString());
      return true;
    },
    FIRST,
  );
}
