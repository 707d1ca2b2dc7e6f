// Outcasts (banned users, or users of a banned host) may not enter.

import type { RoomFeature } from '../events.js';
import { errorReply } from '../stanzas.js';

export const bans: RoomFeature = (hooks) => {
  hooks.on(
    'occupant-pre-join',
    ({ room, stanza }) => {
      const from = stanza.attrs.from as string;
      if (room.affiliationOf(from) !== 'outcast') return undefined;
      room.send(errorReply(stanza, { type: 'auth', condition: 'forbidden' }, room.jid), from);
      return true;
    },
    -10,
  );
};
