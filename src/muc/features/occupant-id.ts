// XEP-0421 anonymous unique occupant identifiers, on by default as in
// Prosody: every presence and message the room relays from a user carries
// <occupant-id/>, the same for all of that user's sessions and nicknames in
// the room, derived from the bare JID with a per-room secret so that it
// reveals nothing. Ids a client put in its own stanzas are removed.

import { createHmac, randomBytes } from 'node:crypto';
import type { Element } from '../../xml/element.js';
import type { RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { defineSetting } from '../settings.js';

const NS_OCCUPANT_ID = 'urn:xmpp:occupant-id:0';

/** The room's secret; kept with its configuration, so that ids outlive restarts of persistent rooms. */
const SALT = defineSetting<string | undefined>('occupant_id_salt', undefined);

function occupantId(room: Room, bareJid: string): string {
  let salt = room.get(SALT);
  if (salt === undefined) room.set(SALT, (salt = randomBytes(16).toString('base64')));
  return createHmac('sha256', salt).update(bareJid).digest('base64');
}

function stamp(room: Room, stanza: Element, bareJid: string): void {
  stanza.removeChildren('occupant-id', NS_OCCUPANT_ID);
  stanza.c('occupant-id', { xmlns: NS_OCCUPANT_ID, id: occupantId(room, bareJid) });
}

export const occupantIds: RoomFeature = (hooks) => {
  hooks.on('occupant-presence', ({ room, stanza, bareJid }) => stamp(room, stanza, bareJid));
  hooks.on('occupant-groupchat', ({ room, stanza, occupant }) => void stamp(room, stanza, occupant.bareJid), 10);
  hooks.on('private-message', ({ room, stanza, sender }) => stamp(room, stanza, sender.bareJid));
  hooks.on('disco-info', ({ reply }) => void reply.c('feature', { var: NS_OCCUPANT_ID }));
};
