// Persistent rooms outlive their last occupant; the room actor keeps them in
// storage (src/store/rooms.ts) while this setting is on.

import type { RoomFeature } from '../events.js';
import { PERSISTENT } from '../settings.js';
import { configField, FLAG } from './config-field.js';
import { inSection } from './config-sections.js';

export const persistent: RoomFeature = (hooks) => {
  const field = {
    var: 'muc#roomconfig_persistentroom',
    type: 'boolean',
    label: 'Persistent (room should remain even when it is empty)',
    desc: 'Rooms are automatically deleted when they are empty, unless this option is enabled',
  } as const;
  configField(hooks, PERSISTENT, field, inSection('information', 5), FLAG);
  hooks.on('disco-info', ({ room, reply }) => void reply.c('feature', { var: room.get(PERSISTENT) ? 'muc_persistent' : 'muc_temporary' }));
};
