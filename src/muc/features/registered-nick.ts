// Registered-nickname enforcement (Prosody's enforce_registered_nickname, the
// service's `muc.enforce_registered_nickname`): a user with a reserved
// nickname always has it in the room. A join under another nickname is given
// the reserved one (status 210), a nick change away from it is refused
// (not-acceptable), and when a nickname is reserved, that user's occupants
// under other nicknames are removed (307).

import { bareJid } from '../../jid/jid.js';
import type { RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { errorReply } from '../stanzas.js';

/** The nickname `user` must have here, when the service enforces one. */
function enforcedNick(room: Room, user: string): string | undefined {
  return room.settings.enforce_registered_nickname ? room.registeredNick(bareJid(user)) : undefined;
}

export const registeredNicknames: RoomFeature = (hooks) => {
  hooks.on('join-nick', ({ room, stanza }) => {
    const nick = enforcedNick(room, stanza.attrs.from as string);
    if (nick === undefined || room.jid + '/' + nick === stanza.attrs.to) return undefined;
    return room.jid + '/' + nick;
  });

  hooks.on('occupant-pre-change', ({ room, stanza, to }) => {
    const nick = enforcedNick(room, to.bareJid);
    if (nick === undefined || to.name === nick) return undefined;
    room.send(errorReply(stanza, { type: 'cancel', condition: 'not-acceptable' }, room.jid), stanza.attrs.from as string);
    return true;
  });

  hooks.on('set-affiliation', ({ room, jid }) => {
    const nick = enforcedNick(room, jid);
    if (nick === undefined) return;
    for (const occupant of [...room.occupants.values()]) {
      if (occupant.bareJid === jid && occupant.name !== nick) room.setRole(true, occupant.nick, 'none');
    }
  });
};
