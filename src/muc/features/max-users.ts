// The most occupants a room admits (muc#roomconfig_maxusers, XEP-0045 §10.2):
// the usual choices, or any positive number up to the service's ceiling,
// muc.max_occupants ('none' means the ceiling; more is refused naming the field).
// A join beyond it gets service-unavailable (§7.2.10); owners and admins
// still get in below the ceiling, and a session joining a nickname its user
// already holds adds no occupant.

import type { RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { AFFILIATION_RANK } from '../roles.js';
import { defineSetting } from '../settings.js';
import { errorReply } from '../stanzas.js';
import { inSection } from './config-sections.js';

/** No limit: the option 'none'. */
const MAX_USERS = defineSetting<number | undefined>('max_users', undefined);

const OPTIONS = ['10', '20', '30', '50', '100', 'none'];

/** The room's own limit, never above the ceiling; undefined when it is the ceiling. */
function roomLimit(room: Room): number | undefined {
  const limit = room.get(MAX_USERS);
  return limit !== undefined && limit < room.limits.maxOccupants ? limit : undefined;
}

export const maxUsers: RoomFeature = (hooks) => {
  hooks.on(
    'occupant-pre-join',
    ({ room, stanza, occupant }) => {
      const limit = roomLimit(room);
      const from = stanza.attrs.from as string;
      if (room.occupants.has(occupant.nick)) return undefined;
      const ceiling = room.occupants.size >= room.limits.maxOccupants;
      if (!ceiling && (limit === undefined || room.occupants.size < limit)) return undefined;
      if (!ceiling && AFFILIATION_RANK[room.affiliationOf(from)] >= AFFILIATION_RANK.admin) return undefined;
      const error = { type: 'cancel', condition: 'service-unavailable', text: 'The room has reached its maximum number of occupants' } as const;
      room.send(errorReply(stanza, error, room.jid), from);
      return true;
    },
    -40,
  );

  hooks.on('disco-info', ({ room, form }) => {
    const limit = roomLimit(room);
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
        range: { min: 1, max: room.limits.maxOccupants },
        value: String(roomLimit(room) ?? 'none'),
      }),
    inSection('access', 1),
  );
  hooks.on('config-submitted/muc#roomconfig_maxusers', ({ room, value, statusCodes }) => {
    // Any positive number up to the ceiling may be given (the form refused more); anything else but 'none' is ignored, as Prosody ignores bad values.
    const limit = value === 'none' ? undefined : Number(value);
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) return;
    if (room.set(MAX_USERS, limit)) statusCodes.add('104');
  });
};
