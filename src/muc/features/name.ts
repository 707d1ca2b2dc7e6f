// The room's name: the title in its disco identity and configuration form.

import type { RoomFeature } from '../events.js';
import { defineSetting } from '../settings.js';

export const NAME = defineSetting<string | undefined>('name', undefined);

export const name: RoomFeature = (hooks) => {
  hooks.on(
    'disco-info',
    ({ room, reply, form }) => {
      reply.c('identity', { category: 'conference', type: 'text', name: room.get(NAME) });
      form.push({ var: 'muc#roomconfig_roomname', type: 'text-single', label: 'Title', value: room.get(NAME) });
    },
    10,
  );
  hooks.on(
    'config-form',
    ({ room, fields }) => void fields.push({ var: 'muc#roomconfig_roomname', type: 'text-single', label: 'Title', value: room.get(NAME) }),
    99,
  );
  hooks.on('config-submitted/muc#roomconfig_roomname', ({ room, value, statusCodes }) => {
    if (room.set(NAME, (value as string) || undefined)) statusCodes.add('104');
  });
};
