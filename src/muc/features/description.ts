// The room's description, shown in disco#info and set in the configuration form.

import type { RoomFeature } from '../events.js';
import { defineSetting } from '../settings.js';
import { configField, TEXT } from './config-field.js';
import { inSection } from './config-sections.js';

const DESCRIPTION = defineSetting<string | undefined>('description', undefined);

export const description: RoomFeature = (hooks) => {
  hooks.on('disco-info', ({ room, form }) => {
    form.push({ var: 'muc#roominfo_description', type: 'text-single', label: 'Description', value: room.get(DESCRIPTION) ?? '' });
  });
  const field = { var: 'muc#roomconfig_roomdesc', type: 'text-single', label: 'Description', desc: 'A brief description of the room' } as const;
  configField(hooks, DESCRIPTION, field, inSection('information', 2), TEXT);
};
