// Who may see occupants' real JIDs. The room core applies the setting; this
// module offers it in the configuration form and disco#info, and announces a
// change with status 172 (now non-anonymous) or 173 (now semi-anonymous).

import type { RoomFeature } from '../events.js';
import { WHOIS } from '../settings.js';

export const whois: RoomFeature = (hooks) => {
  hooks.on('disco-info', ({ room, reply }) => {
    reply.c('feature', { var: room.get(WHOIS) === 'anyone' ? 'muc_nonanonymous' : 'muc_semianonymous' });
  });
  hooks.on(
    'config-form',
    ({ room, fields }) =>
      void fields.push({
        var: 'muc#roomconfig_whois',
        type: 'list-single',
        label: 'Addresses (JIDs) of room occupants may be viewed by:',
        options: [
          { value: 'moderators', label: 'Moderators only' },
          { value: 'anyone', label: 'Anyone' },
        ],
        value: room.get(WHOIS),
      }),
    76,
  );
  hooks.on('config-submitted/muc#roomconfig_whois', ({ room, value, statusCodes }) => {
    const next = value === 'anyone' ? 'anyone' : 'moderators';
    if (room.set(WHOIS, next)) statusCodes.add(next === 'anyone' ? '172' : '173');
  });
};
