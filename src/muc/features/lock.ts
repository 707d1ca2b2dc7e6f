// Room locking (XEP-0045 §10.1.1): a new room admits nobody but its creator
// until the owner submits a configuration (an empty submit makes it an
// instant room). As in Prosody, the lock lapses on its own after five minutes.

import type { RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { defineSetting } from '../settings.js';
import { errorReply } from '../stanzas.js';

const LOCK_MS = 300_000;

/** When the lock lapses (epoch ms), while the room is locked. */
const LOCKED_UNTIL = defineSetting<number | undefined>('locked_until', undefined);

export function isLocked(room: Room): boolean {
  const until = room.get(LOCKED_UNTIL);
  if (until === undefined) return false;
  if (Date.now() < until) return true;
  room.set(LOCKED_UNTIL, undefined);
  return false;
}

export const lock: RoomFeature = (hooks) => {
  hooks.on('room-pre-create', ({ room }) => void room.set(LOCKED_UNTIL, Date.now() + LOCK_MS), 10);

  hooks.on(
    'occupant-pre-join',
    ({ room, stanza, isNewRoom }) => {
      if (isNewRoom || !isLocked(room)) return undefined;
      room.send(errorReply(stanza, { type: 'cancel', condition: 'item-not-found' }, room.serviceDomain), stanza.attrs.from as string);
      return true;
    },
    -30,
  );

  hooks.on('config-submitted', ({ room }) => void room.set(LOCKED_UNTIL, undefined), -1);
};
