// The room's primary language, shown in disco#info and set in the configuration form.

import type { RoomFeature } from '../events.js';
import { defineSetting } from '../settings.js';
import { configField, TEXT } from './config-field.js';
import { inSection } from './config-sections.js';

const LANGUAGE = defineSetting<string | undefined>('language', undefined);

export const language: RoomFeature = (hooks) => {
  hooks.on('disco-info', ({ room, form }) => {
    form.push({ var: 'muc#roominfo_lang', type: 'text-single', value: room.get(LANGUAGE) ?? '' });
  });
  const field = {
    var: 'muc#roomconfig_lang',
    type: 'text-single',
    label: "Language tag for room (e.g. 'en', 'de', 'fr' etc.)",
    desc: 'Indicate the primary language spoken in this room',
    datatype: 'xs:language',
  } as const;
  configField(hooks, LANGUAGE, field, inSection('information', 3), TEXT);
};
