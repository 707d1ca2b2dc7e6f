// The room's primary language, shown in disco#info and set in the configuration form.

import type { RoomFeature } from '../events.js';
import { defineSetting } from '../settings.js';

const LANGUAGE = defineSetting<string | undefined>('language', undefined);

export const language: RoomFeature = (hooks) => {
  hooks.on('disco-info', ({ room, form }) => {
    form.push({ var: 'muc#roominfo_lang', type: 'text-single', value: room.get(LANGUAGE) ?? '' });
  });
  hooks.on(
    'config-form',
    ({ room, fields }) =>
      void fields.push({
        var: 'muc#roomconfig_lang',
        type: 'text-single',
        label: "Language tag for room (e.g. 'en', 'de', 'fr' etc.)",
        desc: 'Indicate the primary language spoken in this room',
        datatype: 'xs:language',
        value: room.get(LANGUAGE) ?? '',
      }),
    97,
  );
  hooks.on('config-submitted/muc#roomconfig_lang', ({ room, value, statusCodes }) => {
    if (room.set(LANGUAGE, (value as string) || undefined)) statusCodes.add('104');
  });
};
