// Which roles' presences the room broadcasts (muc#roomconfig_presencebroadcast).
// The core applies the setting; changing it shows newly broadcast occupants
// and hides the ones no longer broadcast, as Prosody does.

import type { RoomFeature } from '../events.js';
import { ROLES } from '../roles.js';
import { PRESENCE_BROADCAST } from '../settings.js';
import { mucUserX } from '../stanzas.js';
import { inSection } from './config-sections.js';

export const presenceBroadcast: RoomFeature = (hooks) => {
  hooks.on(
    'config-form',
    ({ room, fields }) =>
      void fields.push({
        var: 'muc#roomconfig_presencebroadcast',
        type: 'list-multi',
        label: 'Only show participants with roles:',
        value: room.get(PRESENCE_BROADCAST),
        options: ROLES,
      }),
    inSection('other', 7),
  );
  hooks.on('config-submitted/muc#roomconfig_presencebroadcast', ({ room, value, statusCodes }) => {
    const before = room.get(PRESENCE_BROADCAST);
    const after = ROLES.filter((role) => (value as string[]).includes(role));
    if (!room.set(PRESENCE_BROADCAST, after)) return;
    statusCodes.add('104');
    for (const occupant of [...room.occupants.values()]) {
      const wasShown = before.includes(occupant.role);
      const isShown = after.includes(occupant.role);
      if (isShown && !wasShown) room.publicise(occupant, mucUserX());
      else if (wasShown && !isShown) room.publicise(occupant, mucUserX(), { forceUnavailable: true });
    }
  });
};
