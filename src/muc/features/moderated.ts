// Moderated rooms: occupants without an affiliation enter as visitors and
// need voice to speak.

import type { RoomFeature } from '../events.js';
import { defineSetting } from '../settings.js';
import { configField, FLAG } from './config-field.js';
import { inSection } from './config-sections.js';

const MODERATED = defineSetting<boolean>('moderated', false);

export const moderated: RoomFeature = (hooks) => {
  hooks.on('default-role', ({ room, affiliation }) => (affiliation === 'none' && room.get(MODERATED) ? 'visitor' : undefined), 1);
  hooks.on('disco-info', ({ room, reply }) => void reply.c('feature', { var: room.get(MODERATED) ? 'muc_moderated' : 'muc_unmoderated' }));
  const field = {
    var: 'muc#roomconfig_moderatedroom',
    type: 'boolean',
    label: 'Moderated (require permission to speak)',
    desc: 'In moderated rooms occupants must be given permission to speak by a room moderator',
  } as const;
  configField(hooks, MODERATED, field, inSection('permissions', 3), FLAG);
};
