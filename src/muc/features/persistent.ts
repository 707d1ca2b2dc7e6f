// Persistent rooms outlive their last occupant; the room actor keeps them in
// storage (src/store/rooms.ts) while this setting is on.

import type { RoomFeature } from '../events.js';
import { PERSISTENT } from '../settings.js';

export const persistent: RoomFeature = (hooks) => {
  hooks.on(
    'config-form',
    ({ room, fields }) =>
      void fields.push({
        var: 'muc#roomconfig_persistentroom',
        type: 'boolean',
        label: 'Persistent (room should remain even when it is empty)',
        desc: 'Rooms are automatically deleted when they are empty, unless this option is enabled',
        value: room.get(PERSISTENT),
      }),
    95,
  );
  hooks.on('config-submitted/muc#roomconfig_persistentroom', ({ room, value, statusCodes }) => {
    if (room.set(PERSISTENT, value === true)) statusCodes.add('104');
  });
  hooks.on('disco-info', ({ room, reply }) => void reply.c('feature', { var: room.get(PERSISTENT) ? 'muc_persistent' : 'muc_temporary' }));
};
