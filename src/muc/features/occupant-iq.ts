// IQs between occupants (XEP-0045 §7.2.14 and XEP-0410 self-ping): a get or
// set to an in-room JID goes to that occupant's primary session, from the
// sender's in-room JID, with an id that encodes who asked; the answer is
// routed back by decoding it. The id carries an HMAC of the asking session
// under a per-room secret, so a reply cannot be steered to someone else.

import { createHmac, randomBytes } from 'node:crypto';
import { bareJid } from '../../jid/jid.js';
import type { Element } from '../../xml/element.js';
import type { RoomFeature } from '../events.js';
import type { Occupant } from '../occupant.js';
import type { Room } from '../room.js';
import { errorReply, reply } from '../stanzas.js';
import { NS_PING, NS_PUBSUB } from '../../xmpp/namespaces.js';

const secrets = new WeakMap<Room, Buffer>();

function sessionTag(room: Room, sessionJid: string): string {
  let secret = secrets.get(room);
  if (secret === undefined) secrets.set(room, (secret = randomBytes(16)));
  return createHmac('sha256', secret).update(sessionJid).digest('base64url').slice(0, 11);
}

/** Payloads addressed to the account rather than the session (vCards, PEP). */
const ACCOUNT_NAMESPACES = new Set(['vcard-temp', 'urn:ietf:params:xml:ns:vcard-4.0', NS_PUBSUB]);

function forwardRequest(room: Room, stanza: Element, sender: Occupant | undefined): true {
  const from = stanza.attrs.from as string;
  const to = stanza.attrs.to as string;
  if (sender === undefined) {
    const error = { type: 'cancel', condition: 'not-acceptable', text: 'You are not currently connected to this chat' } as const;
    room.send(errorReply(stanza, error, room.jid), from);
    return true;
  }
  const target = room.occupants.get(to);
  if (target === undefined || target.primary === undefined) {
    room.send(errorReply(stanza, { type: 'cancel', condition: 'item-not-found', text: 'Recipient not in room' }, room.jid), from);
    return true;
  }
  const payload = stanza.elements()[0];
  if (target === sender && stanza.attrs.type === 'get' && payload?.is('ping', NS_PING)) {
    room.send(reply(stanza), from);
    return true;
  }
  const id = Buffer.from([target.primary, stanza.attrs.id ?? '', sessionTag(room, from)].join('\0')).toString('base64');
  const forwarded = stanza.clone().setAttr('from', sender.nick).setAttr('id', id);
  const namespace = payload?.attrs.xmlns;
  room.send(forwarded, namespace !== undefined && ACCOUNT_NAMESPACES.has(namespace) ? bareJid(target.primary) : target.primary);
  return true;
}

function returnResponse(room: Room, stanza: Element): true {
  const from = stanza.attrs.from as string;
  const asker = room.occupants.get(stanza.attrs.to as string);
  const [answerer, originalId, tag] = Buffer.from(stanza.attrs.id ?? '', 'base64').toString().split('\0');
  if (asker === undefined || tag === undefined || (from !== answerer && from !== bareJid(answerer))) return true;
  const answererNick = room.nickOf(answerer);
  const session = asker.liveSessions().find((jid) => sessionTag(room, jid) === tag);
  if (answererNick === undefined || session === undefined) return true;
  room.send(stanza.clone().setAttr('from', answererNick).setAttr('id', originalId), session);
  return true;
}

export const occupantIq: RoomFeature = (hooks) => {
  hooks.on('iq-to-occupant', ({ room, stanza, sender }) => {
    const type = stanza.attrs.type;
    return type === 'result' || type === 'error' ? returnResponse(room, stanza) : forwardRequest(room, stanza, sender);
  });
  hooks.on('disco-info', ({ reply: info }) => void info.c('feature', { var: 'http://jabber.org/protocol/muc#self-ping-optimization' }));
};
