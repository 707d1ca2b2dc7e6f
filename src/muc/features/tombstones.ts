// Tombstones, as Prosody's mod_muc leaves them: a destroyed persistent room
// stays stored, with nothing but why it ended and where it went, and answers
// every stanza with `cancel`/`gone` (the reason as text, the new room as an
// xmpp: URI) for `muc.tombstone_expiry` seconds. After that, or when a
// service admin joins it, the room name is free again and the stanza is
// handled as one to no room. Destroying a tombstone removes it.

import { bareJid } from '../../jid/jid.js';
import type { Element } from '../../xml/element.js';
import type { RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { defineSetting, PERSISTENT } from '../settings.js';
import { errorReply, isAnswerable, NS_STANZAS } from '../stanzas.js';

interface Tombstone {
  /** Until when (ms since the epoch) the room answers `gone`. */
  until: number;
  reason?: string;
  alternate?: string;
}

const TOMBSTONE = defineSetting<Tombstone | undefined>('tombstone', undefined);

/** Whether the tombstone gives way to this stanza: it has expired, or a service admin (the only owners left) joins. */
function givesWay(room: Room, tombstone: Tombstone, stanza: Element): boolean {
  const ownerJoins = stanza.name === 'presence' && stanza.attrs.type === undefined && room.affiliationOf(stanza.attrs.from as string) === 'owner';
  return ownerJoins || tombstone.until <= Date.now();
}

export const tombstones: RoomFeature = (hooks) => {
  // After the modules that clean up after a room (its archive goes).
  hooks.on(
    'room-destroyed',
    ({ room, reason, alternate }) => {
      const expiry = room.settings.tombstone_expiry;
      if (expiry === 0 || !room.get(PERSISTENT) || room.get(TOMBSTONE) !== undefined) return undefined;
      room.reset();
      room.set(PERSISTENT, true);
      room.set(TOMBSTONE, { until: Date.now() + expiry * 1000, reason, alternate });
      return true;
    },
    -10,
  );

  hooks.on(
    'room-stanza',
    ({ room, stanza }) => {
      const tombstone = room.get(TOMBSTONE);
      if (tombstone === undefined) return undefined;
      if (givesWay(room, tombstone, stanza)) {
        room.destroy();
        return undefined;
      }
      if (!isAnswerable(stanza)) return true;
      const error = errorReply(stanza, { type: 'cancel', condition: 'gone', text: tombstone.reason }, room.serviceDomain);
      if (tombstone.alternate !== undefined) {
        const gone = error.getChild('error')?.getChild('gone', NS_STANZAS);
        gone?.append(`xmpp:${bareJid(tombstone.alternate)}?join`);
      }
      room.send(error, stanza.attrs.from as string);
      return true;
    },
    100,
  );
};
