// Public rooms are listed in the service's disco#items; rooms are hidden by default.

import type { RoomFeature } from '../events.js';
import { defineSetting } from '../settings.js';
import { configField, FLAG } from './config-field.js';
import { inSection } from './config-sections.js';

export const PUBLIC = defineSetting<boolean>('public', false);

export const publicRooms: RoomFeature = (hooks) => {
  const field = {
    var: 'muc#roomconfig_publicroom',
    type: 'boolean',
    label: 'Include room information in public lists',
    desc: 'Enable this to allow people to find the room',
  } as const;
  configField(hooks, PUBLIC, field, inSection('information', 9), FLAG);
  hooks.on('disco-info', ({ room, reply }) => void reply.c('feature', { var: room.get(PUBLIC) ? 'muc_public' : 'muc_hidden' }));
};
