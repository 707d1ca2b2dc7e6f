// Who may create a room, by the service's bounds (README "Limits"): nobody
// while the shard is over its heap budget, nobody beyond muc.max_rooms live
// rooms, and no user beyond muc.max_rooms_per_user live rooms it owns (the
// service's admins excepted). Rooms are spread over the shards by hash, so
// each shard admits its share of either cap (divided by the shard count,
// rounded up) and no shard has to ask the others on a join.

import type { RoomFeature } from '../events.js';
import { bareJid } from '../../jid/jid.js';
import type { Room } from '../room.js';
import { errorReply, type StanzaError } from '../stanzas.js';

function refusal(room: Room, creator: string): StanzaError | undefined {
  const { limits } = room;
  if (limits.memoryShort()) {
    return { type: 'wait', condition: 'resource-constraint', text: 'The service is short of memory: no new rooms for now' };
  }
  // liveRooms() counts the room being created already.
  if (limits.liveRooms() > limits.maxRoomsHere) {
    return { type: 'wait', condition: 'resource-constraint', text: 'The service holds as many rooms as it may' };
  }
  // Before creation only a service admin is an owner here.
  if (room.affiliationOf(creator) !== 'owner' && limits.roomsOwnedBy(creator) >= limits.maxRoomsPerUserHere) {
    return { type: 'cancel', condition: 'policy-violation', text: 'You own as many rooms as a user may' };
  }
  return undefined;
}

export const roomCreation: RoomFeature = (hooks) => {
  hooks.on(
    'room-pre-create',
    ({ room, stanza }) => {
      const from = stanza.attrs.from as string;
      const error = refusal(room, bareJid(from));
      if (error === undefined) return undefined;
      room.send(errorReply(stanza, error, room.jid), from);
      return true;
    },
    100,
  );
};
