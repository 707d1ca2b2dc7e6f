// Mediated invitations and declines (XEP-0045 §7.8.2), as Prosody relays them:
// the room asks 'pre-invite' (which may refuse), builds the invitation, and
// lets 'invite' add to it before it goes out. Only users with a voice may
// invite; this module adds what any invitee needs (a plain-text body, the
// older jabber:x:conference form); members-only, password and whois add the
// rest. XEP-0249 direct invitations go from user to user and never reach the
// room.

import { prepJid, bareJid } from '../../jid/jid.js';
import type { Element } from '../../xml/element.js';
import type { RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { ROLE_RANK } from '../roles.js';
import { errorReply, inviteOf, NS_MUC_USER, withoutMucPayload, type StanzaError } from '../stanzas.js';

function refuse(room: Room, stanza: Element, error: StanzaError): true {
  room.send(errorReply(stanza, error), stanza.attrs.from as string);
  return true;
}

function invite(room: Room, stanza: Element, payload: Element): true {
  const invitee = prepJid(payload.attrs.to);
  if (invitee === null) return refuse(room, stanza, { type: 'cancel', condition: 'jid-malformed' });
  if (room.fire('pre-invite', { room, stanza }) !== undefined) return true;
  const message = withoutMucPayload(stanza).setAttr('from', room.jid).setAttr('to', undefined);
  message
    .c('x', { xmlns: NS_MUC_USER })
    .c('invite', { from: stanza.attrs.from })
    .c('reason')
    .append(payload.getChildText('reason') ?? '');
  room.fire('invite', { room, stanza: message, incoming: stanza, invitee });
  room.send(message, invitee);
  return true;
}

function decline(room: Room, stanza: Element, payload: Element): true {
  const declinee = prepJid(payload.attrs.to);
  if (declinee === null) return refuse(room, stanza, { type: 'cancel', condition: 'jid-malformed' });
  const from = stanza.attrs.from as string;
  const reason = payload.getChildText('reason') ?? '';
  const message = withoutMucPayload(stanza).setAttr('from', room.jid).setAttr('to', undefined);
  message.c('x', { xmlns: NS_MUC_USER }).c('decline', { from }).c('reason').append(reason);
  if (message.getChild('body') === undefined) {
    message.c('body').append(`${from} declined your invite to the room ${room.jid}${reason === '' ? '' : ` (${reason})`}`);
  }
  const occupant = bareJid(declinee) === room.jid ? room.occupants.get(declinee) : undefined;
  room.send(message, occupant === undefined ? declinee : occupant.liveSessions());
  return true;
}

export const invitations: RoomFeature = (hooks) => {
  hooks.on('message-to-room', ({ room, stanza }) => {
    if (stanza.attrs.type !== undefined && stanza.attrs.type !== 'normal') return undefined;
    const x = stanza.getChild('x', NS_MUC_USER);
    if (x === undefined) return undefined;
    // A muc#user <x/> is for invitations: one that is empty, or carries anything else, is refused as Prosody does.
    const payload = x.elements()[0];
    if (payload?.name === 'invite' && payload.attrs.to !== undefined) return invite(room, stanza, payload);
    if (payload?.name === 'decline' && payload.attrs.to !== undefined) return decline(room, stanza, payload);
    return refuse(room, stanza, { type: 'cancel', condition: 'bad-request' });
  });

  hooks.on('pre-invite', ({ room, stanza }) => {
    const inviter = stanza.attrs.from as string;
    const role = room.occupantByRealJid(inviter)?.role ?? room.defaultRole(room.affiliationOf(inviter));
    return ROLE_RANK[role] <= ROLE_RANK.visitor ? refuse(room, stanza, { type: 'auth', condition: 'forbidden' }) : undefined;
  });

  // After the modules that change the invitation (whois names the inviter), so these name the inviter as the invitee sees it.
  hooks.on(
    'invite',
    ({ room, stanza }) => {
      const payload = inviteOf(stanza);
      const reason = payload.getChildText('reason') ?? '';
      stanza.c('x', { xmlns: 'jabber:x:conference', jid: room.jid }).append(reason);
      if (stanza.getChild('body') === undefined) {
        stanza.c('body').append(`${payload.attrs.from} invited you to the room ${room.jid}${reason === '' ? '' : ` (${reason})`}`);
      }
    },
    -10,
  );
};
