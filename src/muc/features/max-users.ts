// The most occupants a room admits (muc#roomconfig_maxusers, XEP-0045 §10.2):
// the usual choices, or any positive number.
// A join beyond it gets service-unavailable (§7.2.10); owners and admins
// still get in, and a session joining a nickname its user already holds adds
// no occupant.

import type { RoomFeature } from '../events.js';
import { AFFILIATION_RANK } from '../roles.js';
import { defineSetting } from '../settings.js';
import { errorReply } from '../stanzas.js';
import { inSection } from './config-sections.js';

/** No limit: the option 'none'. */
const MAX_USERS = defineSetting<number | undefined>('max_users', undefined);

const OPTIONS = ['10', '20', '30', '50', '100', 'none'];

export const maxUsers: RoomFeature = (hooks) => {
  hooks.on(
    'occupant-pre-join',
    ({ room, stanza, occupant }) => {
      const limit = room.get(MAX_USERS);
      const from = stanza.attrs.from as string;
      if (limit === undefined || room.occupants.size < limit || room.occupants.has(occupant.nick)) return undefined;
      if (AFFILIATION_RANK[room.affiliationOf(from)] >= AFFILIATION_RANK.admin) return undefined;
      const error = { type: 'cancel', condition: 'service-unavailable', text: 'The room has reached its maximum number of occupants' } as const;
      room.send(errorReply(stanza, error, room.jid), from);
      return true;
    },
    -40,
  );

  hooks.on('disco-info', ({ room, form }) => {
    const limit = room.get(MAX_USERS);
    if (limit !== undefined) form.push({ var: 'muc#roominfo_maxusers', type: 'text-single', label: 'Maximum number of occupants', value: String(limit) });
  });

  hooks.on(
    'config-form',
    ({ room, fields }) =>
      void fields.push({
        var: 'muc#roomconfig_maxusers',
        type: 'list-single',
        label: 'Maximum number of occupants',
        options: OPTIONS.map((value) => ({ value, label: value === 'none' ? 'No limit' : value })),
        open: true,
        value: String(room.get(MAX_USERS) ?? 'none'),
      }),
    inSection('access', 1),
  );
  hooks.on('config-submitted/muc#roomconfig_maxusers', ({ room, value, statusCodes }) => {
    // Any positive number may be given; anything else but 'none' is ignored, as Prosody ignores bad values.
    const limit = value === 'none' ? undefined : Number(value);
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) return;
    if (room.set(MAX_USERS, limit)) statusCodes.add('104');
  });
};
