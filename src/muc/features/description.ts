// The room's description, shown in disco#info and set in the configuration form.

import type { RoomFeature } from '../events.js';
import { defineSetting } from '../settings.js';

const DESCRIPTION = defineSetting<string | undefined>('description', undefined);

export const description: RoomFeature = (hooks) => {
  hooks.on('disco-info', ({ room, form }) => {
    form.push({ var: 'muc#roominfo_description', type: 'text-single', label: 'Description', value: room.get(DESCRIPTION) ?? '' });
  });
  hooks.on(
    'config-form',
    ({ room, fields }) =>
      void fields.push({
        var: 'muc#roomconfig_roomdesc',
        type: 'text-single',
        label: 'Description',
        desc: 'A brief description of the room',
        value: room.get(DESCRIPTION) ?? '',
      }),
    98,
  );
  hooks.on('config-submitted/muc#roomconfig_roomdesc', ({ room, value, statusCodes }) => {
    if (room.set(DESCRIPTION, (value as string) || undefined)) statusCodes.add('104');
  });
};
