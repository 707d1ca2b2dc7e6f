// Public rooms are listed in the service's disco#items; rooms are hidden by default.

import type { RoomFeature } from '../events.js';
import { defineSetting } from '../settings.js';

export const PUBLIC = defineSetting<boolean>('public', false);

export const publicRooms: RoomFeature = (hooks) => {
  hooks.on(
    'config-form',
    ({ room, fields }) =>
      void fields.push({
        var: 'muc#roomconfig_publicroom',
        type: 'boolean',
        label: 'Include room information in public lists',
        desc: 'Enable this to allow people to find the room',
        value: room.get(PUBLIC),
      }),
    91,
  );
  hooks.on('config-submitted/muc#roomconfig_publicroom', ({ room, value, statusCodes }) => {
    if (room.set(PUBLIC, value === true)) statusCodes.add('104');
  });
  hooks.on('disco-info', ({ room, reply }) => void reply.c('feature', { var: room.get(PUBLIC) ? 'muc_public' : 'muc_hidden' }));
};
