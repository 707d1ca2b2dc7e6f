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

/**
 * Ids already derived, per room and salt: an HMAC per relayed stanza was a
 * tenth of a shard's time in a fan-out, and a join stamps every occupant's
 * presence for the newcomer. An occupant's entry goes when it leaves.
 */
const derived = new WeakMap<Room, { salt: string; ids: Map<string, string> }>();

function occupantId(room: Room, bareJid: string): string {
  let salt = room.get(SALT);
  if (salt === undefined) room.set(SALT, (salt = randomBytes(16).toString('base64')));
  let cache = derived.get(room);
  if (cache?.salt !== salt) derived.set(room, (cache = { salt, ids: new Map() }));
  let id = cache.ids.get(bareJid);
  if (id === undefined) cache.ids.set(bareJid, (id = createHmac('sha256', salt).update(bareJid).digest('base64')));
  return id;
}

function stamp(room: Room, stanza: Element, bareJid: string): void {
  stanza.removeChildren('occupant-id', NS_OCCUPANT_ID);
  stanza.c('occupant-id', { xmlns: NS_OCCUPANT_ID, id: occupantId(room, bareJid) });
}

export const occupantIds: RoomFeature = (hooks) => {
  hooks.on('occupant-presence', ({ room, stanza, bareJid }) => stamp(room, stanza, bareJid));
  hooks.on('occupant-groupchat', ({ room, stanza, occupant }) => void stamp(room, stanza, occupant.bareJid), 10);
  hooks.on('private-message', ({ room, stanza, sender }) => stamp(room, stanza, sender.bareJid));
  hooks.on('occupant-left', ({ room, occupant }) => void derived.get(room)?.ids.delete(occupant.bareJid));
  hooks.on('disco-info', ({ reply }) => void reply.c('feature', { var: NS_OCCUPANT_ID }));
};
