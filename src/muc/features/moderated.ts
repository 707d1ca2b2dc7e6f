// Moderated rooms: occupants without an affiliation enter as visitors and
// need voice to speak.

import type { RoomFeature } from '../events.js';
import { defineSetting } from '../settings.js';

const MODERATED = defineSetting<boolean>('moderated', false);

export const moderated: RoomFeature = (hooks) => {
  hooks.on('default-role', ({ room, affiliation }) => (affiliation === 'none' && room.get(MODERATED) ? 'visitor' : undefined), 1);
  hooks.on('disco-info', ({ room, reply }) => void reply.c('feature', { var: room.get(MODERATED) ? 'muc_moderated' : 'muc_unmoderated' }));
  hooks.on(
    'config-form',
    ({ room, fields }) =>
      void fields.push({
        var: 'muc#roomconfig_moderatedroom',
        type: 'boolean',
        label: 'Moderated (require permission to speak)',
        desc: 'In moderated rooms occupants must be given permission to speak by a room moderator',
        value: room.get(MODERATED),
      }),
    77,
  );
  hooks.on('config-submitted/muc#roomconfig_moderatedroom', ({ room, value, statusCodes }) => {
    if (room.set(MODERATED, value === true)) statusCodes.add('104');
  });
};
