// Mediated invitations and declines (XEP-0045 §7.8.2): the room relays them
// from the inviter's real JID, as Prosody does, adding what the invitee needs
// (the password, a plain-text body, the older jabber:x:conference form). Only
// users with a voice may invite; in a members-only room only admins (or
// members, when the room allows it) may, and the invitee is made a member.
// XEP-0249 direct invitations go from user to user and never reach the room.

import { prepJid, bareJid } from '../../jid/jid.js';
import type { Element } from '../../xml/element.js';
import type { RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { AFFILIATION_RANK, ROLE_RANK } from '../roles.js';
import { errorReply, NS_MUC_USER, withoutMucPayload, type StanzaError } from '../stanzas.js';
import { ALLOW_MEMBER_INVITES, MEMBERS_ONLY } from './members-only.js';
import { PASSWORD } from './password.js';

function refuse(room: Room, stanza: Element, error: StanzaError, by?: string): true {
  room.send(errorReply(stanza, error, by), stanza.attrs.from as string);
  return true;
}

/** Refuses an inviter without a voice, or without the affiliation a members-only room asks (that error names the room). */
function refusedInviter(room: Room, stanza: Element): boolean {
  const inviter = stanza.attrs.from as string;
  const role = room.occupantByRealJid(inviter)?.role ?? room.defaultRole(room.affiliationOf(inviter));
  if (ROLE_RANK[role] <= ROLE_RANK.visitor) return refuse(room, stanza, { type: 'auth', condition: 'forbidden' });
  if (room.get(MEMBERS_ONLY)) {
    const required = room.get(ALLOW_MEMBER_INVITES) ? 'member' : 'admin';
    if (AFFILIATION_RANK[room.affiliationOf(inviter)] < AFFILIATION_RANK[required]) {
      return refuse(room, stanza, { type: 'auth', condition: 'forbidden' }, room.jid);
    }
  }
  return false;
}

function invite(room: Room, stanza: Element, payload: Element): true {
  const inviter = stanza.attrs.from as string;
  const invitee = prepJid(payload.attrs.to);
  if (invitee === null) return refuse(room, stanza, { type: 'cancel', condition: 'jid-malformed' });
  if (refusedInviter(room, stanza)) return true;
  const reason = payload.getChildText('reason') ?? '';
  const message = withoutMucPayload(stanza).setAttr('from', room.jid).setAttr('to', undefined);
  const x = message.c('x', { xmlns: NS_MUC_USER });
  x.c('invite', { from: inviter }).c('reason').append(reason);
  const password = room.get(PASSWORD);
  if (password !== undefined) x.c('password').append(password);
  message.c('x', { xmlns: 'jabber:x:conference', jid: room.jid }).append(reason);
  if (message.getChild('body') === undefined) {
    message.c('body').append(`${inviter} invited you to the room ${room.jid}${reason === '' ? '' : ` (${reason})`}`);
  }
  if (room.get(MEMBERS_ONLY) && AFFILIATION_RANK[room.affiliationOf(invitee)] <= AFFILIATION_RANK.none) {
    room.setAffiliation(true, bareJid(invitee), 'member', { reason: 'Invited by ' + inviter });
  }
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
};
