// Members-only rooms: only members, admins and owners may enter (others get
// registration-required); turning it on removes the others (status 322), and
// an occupant who loses membership is removed (status 321, from the core).
// Only admins (or members, when the room allows it) may invite, and the
// invitee is made a member.

import { bareJid } from '../../jid/jid.js';
import type { RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { AFFILIATION_RANK } from '../roles.js';
import { defineSetting } from '../settings.js';
import { errorReply, inviteOf, mucUserX } from '../stanzas.js';
import { configField, FLAG } from './config-field.js';
import { inSection } from './config-sections.js';

export const MEMBERS_ONLY = defineSetting<boolean>('members_only', false);

/** In a members-only room, members (not only admins) may invite, which makes the invitee a member. */
export const ALLOW_MEMBER_INVITES = defineSetting<boolean>('allow_member_invites', false);

const ALLOW_MEMBER_INVITES_FIELD = '{http://prosody.im/protocol/muc}roomconfig_allowmemberinvites';
const ALLOW_MEMBER_INVITES_LABEL = 'Allow members to invite new members';

function setMembersOnly(room: Room, on: boolean): boolean {
  if (!room.set(MEMBERS_ONLY, on)) return false;
  if (!on) return true;
  const removed = [...room.occupants.values()].filter((occupant) => AFFILIATION_RANK[room.affiliationOf(occupant.bareJid)] <= 0);
  for (const occupant of removed) {
    occupant.role = 'none';
    room.saveOccupant(occupant);
  }
  for (const occupant of removed) {
    room.publicise(occupant, mucUserX('322'));
    room.fire('occupant-left', { room, occupant });
  }
  return true;
}

export const membersOnly: RoomFeature = (hooks) => {
  hooks.on('default-role', ({ room, affiliation }) => (affiliation === 'none' && room.get(MEMBERS_ONLY) ? 'none' : undefined), 2);

  hooks.on(
    'occupant-pre-join',
    ({ room, stanza }) => {
      const from = stanza.attrs.from as string;
      if (!room.get(MEMBERS_ONLY) || AFFILIATION_RANK[room.affiliationOf(from)] > 0) return undefined;
      room.send(errorReply(stanza, { type: 'auth', condition: 'registration-required' }, room.jid), from);
      return true;
    },
    -5,
  );

  hooks.on('pre-invite', ({ room, stanza }) => {
    if (!room.get(MEMBERS_ONLY)) return undefined;
    const inviter = stanza.attrs.from as string;
    const required = room.get(ALLOW_MEMBER_INVITES) ? 'member' : 'admin';
    if (AFFILIATION_RANK[room.affiliationOf(inviter)] >= AFFILIATION_RANK[required]) return undefined;
    room.send(errorReply(stanza, { type: 'auth', condition: 'forbidden' }, room.jid), inviter);
    return true;
  });

  hooks.on('invite', ({ room, stanza, invitee }) => {
    if (!room.get(MEMBERS_ONLY) || AFFILIATION_RANK[room.affiliationOf(invitee)] > AFFILIATION_RANK.none) return;
    room.setAffiliation(true, bareJid(invitee), 'member', { reason: 'Invited by ' + inviteOf(stanza).attrs.from });
  });

  hooks.on('disco-info', ({ room, reply, form }) => {
    reply.c('feature', { var: room.get(MEMBERS_ONLY) ? 'muc_membersonly' : 'muc_open' });
    // Who may invite: anyone, unless the room is members-only.
    const memberInvites = room.get(ALLOW_MEMBER_INVITES);
    form.push(
      { var: ALLOW_MEMBER_INVITES_FIELD, type: 'boolean', label: ALLOW_MEMBER_INVITES_LABEL, value: memberInvites },
      { var: 'muc#roomconfig_allowinvites', type: 'boolean', label: 'Allow users to invite other users', value: !room.get(MEMBERS_ONLY) || memberInvites },
    );
  });

  hooks.on(
    'config-form',
    ({ room, fields }) =>
      void fields.push({
        var: 'muc#roomconfig_membersonly',
        type: 'boolean',
        label: 'Only allow members to join',
        desc: 'Enable this to only allow access for room owners, admins and members',
        value: room.get(MEMBERS_ONLY),
      }),
    inSection('access', 3),
  );
  hooks.on('config-submitted/muc#roomconfig_membersonly', ({ room, value, statusCodes }) => {
    if (setMembersOnly(room, value === true)) statusCodes.add('104');
  });
  // Right after the members-only field (same priority, added later).
  configField(hooks, ALLOW_MEMBER_INVITES, { var: ALLOW_MEMBER_INVITES_FIELD, type: 'boolean', label: ALLOW_MEMBER_INVITES_LABEL }, inSection('access', 3), FLAG);
};
