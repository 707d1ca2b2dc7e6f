// Nickname rules on entry and nick change: a nickname must pass strict
// resourceprep (jid-malformed), must not be blank (not-allowed) and must not
// be longer than muc.max_nick_length characters (not-acceptable).

import { prepNickname } from '../../jid/jid.js';
import type { Element } from '../../xml/element.js';
import type { RoomFeature } from '../events.js';
import type { Occupant } from '../occupant.js';
import type { Room } from '../room.js';
import { errorReply } from '../stanzas.js';

function refuseBadNickname(room: Room, stanza: Element, occupant: Occupant): true | undefined {
  if (prepNickname(occupant.name) === null) {
    const error = { type: 'modify', condition: 'jid-malformed', text: 'Nickname must pass strict validation' } as const;
    room.send(errorReply(stanza, error, room.jid), stanza.attrs.from as string);
    return true;
  }
  if (!/\S/u.test(occupant.name)) {
    const error = { type: 'modify', condition: 'not-allowed', text: 'Invisible Nicknames are forbidden' } as const;
    room.send(errorReply(stanza, error, room.jid), stanza.attrs.from as string);
    return true;
  }
  if (occupant.name.length > room.limits.maxNickLength) {
    const error = { type: 'modify', condition: 'not-acceptable', text: `Nicknames are limited to ${room.limits.maxNickLength} characters` } as const;
    room.send(errorReply(stanza, error, room.jid), stanza.attrs.from as string);
    return true;
  }
  return undefined;
}

export const nicknames: RoomFeature = (hooks) => {
  hooks.on('occupant-pre-join', ({ room, stanza, occupant }) => refuseBadNickname(room, stanza, occupant), 2);
  hooks.on('occupant-pre-change', ({ room, stanza, to }) => refuseBadNickname(room, stanza, to), 2);
};
