// The room's name: the title in its disco identity and configuration form.

import type { RoomFeature } from '../events.js';
import { defineSetting } from '../settings.js';
import { configField, TEXT } from './config-field.js';
import { inSection } from './config-sections.js';

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
  // Unlike the other texts, an unset title is shown without a value, as Prosody shows it.
  configField(hooks, NAME, { var: 'muc#roomconfig_roomname', type: 'text-single', label: 'Title' }, inSection('information', 1), { ...TEXT, show: (value) => value });
};
