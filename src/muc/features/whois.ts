// Who may see occupants' real JIDs. The room core applies the setting; this
// module offers it in the configuration form and disco#info, and announces a
// change with status 172 (now non-anonymous) or 173 (now semi-anonymous).
// An invitation names the inviter by occupant JID to an invitee who may not
// see real JIDs (the room's JID, when the inviter is not in the room, where
// Prosody would reveal the real JID).

import type { RoomFeature } from '../events.js';
import { WHOIS } from '../settings.js';
import { inviteOf } from '../stanzas.js';
import { inSection } from './config-sections.js';

export const whois: RoomFeature = (hooks) => {
  hooks.on('disco-info', ({ room, reply }) => {
    reply.c('feature', { var: room.get(WHOIS) === 'anyone' ? 'muc_nonanonymous' : 'muc_semianonymous' });
  });
  hooks.on(
    'invite',
    ({ room, stanza, incoming, invitee }) => {
      if (room.get(WHOIS) === 'anyone' || room.defaultRole(room.affiliationOf(invitee)) === 'moderator') return;
      inviteOf(stanza).setAttr('from', room.nickOf(incoming.attrs.from as string) ?? room.jid);
    },
    50,
  );
  hooks.on(
    'config-form',
    ({ room, fields }) =>
      void fields.push({
        var: 'muc#roomconfig_whois',
        type: 'list-single',
        label: 'Addresses (JIDs) of room occupants may be viewed by:',
        options: [
          { value: 'moderators', label: 'Moderators only' },
          { value: 'anyone', label: 'Anyone' },
        ],
        value: room.get(WHOIS),
      }),
    inSection('permissions', 4),
  );
  hooks.on('config-submitted/muc#roomconfig_whois', ({ room, value, statusCodes }) => {
    const next = value === 'anyone' ? 'anyone' : 'moderators';
    if (room.set(WHOIS, next)) statusCodes.add(next === 'anyone' ? '172' : '173');
  });
};
