// A room's live state as it moves from one node of a cluster to another: the
// cluster layer asks the old owner's room for it (an export, handled in the
// room's mailbox after whatever was queued before it), hands it to the new
// owner's room (an import), which takes the room's lease in the store and
// goes on with the same occupants, roles and presences, configuration,
// affiliations and what the features keep (`room-export`/`room-import`: the
// discussion history). After a node died, the import is rebuilt from what the
// surviving nodes know of their own sessions, and names the occupants nobody
// kept: they are announced as gone.
//
// The requests travel as stanzas from the MUC service's own domain, which no
// client can send (the router stamps every client stanza with its session's
// JID), and the room's answer goes back to that domain, where the cluster
// layer takes it.

import { el, type Element } from '../xml/element.js';
import { parseElement } from '../xml/stream-parser.js';
import { Occupant } from './occupant.js';
import type { Room } from './room.js';
import type { AffiliationEntry, Role } from './roles.js';
import type { RoomConfig } from './settings.js';
import { mucUserX, item } from './stanzas.js';

export const NS_ROOM_TRANSFER = 'urn:xmpp:conclave:room-transfer:0';

export interface TransferredOccupant {
  /** The in-room JID. */
  nick: string;
  bareJid: string;
  role: Role;
  /** Full JID → the presence that session last sent, serialized. */
  sessions: [string, string][];
}

export interface RoomState {
  /** Absent: the store's (a room rebuilt after its node died). */
  config?: RoomConfig;
  /** With `config`; in a rebuilt room that the store does not hold (a temporary one), what its occupants were last shown. */
  affiliations: [string, AffiliationEntry][];
  occupants: TransferredOccupant[];
  /** What features keep beside the configuration, by feature. */
  features?: Record<string, unknown>;
  /** Occupants that were on a node that died: in-room JID → affiliation. */
  gone?: [string, string][];
}

export type Transfer = { kind: 'export' } | { kind: 'import'; state: RoomState } | { kind: 'exported'; room: string; state: RoomState | undefined };

/** The transfer a stanza from the service itself carries; undefined for any other stanza. */
export function transferOf(stanza: Element, serviceDomain: string): Transfer | undefined {
  if (stanza.name !== 'message') return undefined;
  const { from, to } = stanza.attrs;
  if (from === serviceDomain) {
    if (stanza.getChild('export', NS_ROOM_TRANSFER)) return { kind: 'export' };
    const imported = stanza.getChild('import', NS_ROOM_TRANSFER);
    if (imported) return { kind: 'import', state: JSON.parse(imported.text()) as RoomState };
  } else if (to === serviceDomain && from !== undefined) {
    const exported = stanza.getChild('exported', NS_ROOM_TRANSFER);
    if (exported) return { kind: 'exported', room: from, state: exported.text() === '' ? undefined : (JSON.parse(exported.text()) as RoomState) };
  }
  return undefined;
}

export function exportRequest(room: string, serviceDomain: string): Element {
  return el('message', { from: serviceDomain, to: room }, el('export', { xmlns: NS_ROOM_TRANSFER }));
}

export function importRequest(room: string, serviceDomain: string, state: RoomState): Element {
  return el('message', { from: serviceDomain, to: room }, el('import', { xmlns: NS_ROOM_TRANSFER }, JSON.stringify(state)));
}

/** The room's answer to an export: its state, or none when it had no live room. */
export function exportAnswer(room: string, serviceDomain: string, state: RoomState | undefined): Element {
  return el('message', { from: room, to: serviceDomain }, el('exported', { xmlns: NS_ROOM_TRANSFER }, state === undefined ? '' : JSON.stringify(state)));
}

export function exportRoom(room: Room): RoomState {
  const features: Record<string, unknown> = {};
  room.fire('room-export', { room, features });
  return {
    config: room.config,
    affiliations: [...room.affiliations],
    occupants: [...room.occupants.values()].map((occupant) => ({
      nick: occupant.nick,
      bareJid: occupant.bareJid,
      role: occupant.role,
      // The primary session first, so that it represents the occupant again.
      sessions: [...occupant.sessions].sort(([a]) => (a === occupant.primary ? -1 : 0)).map(([jid, presence]) => [jid, presence.toString()]),
    })),
    features,
  };
}

/**
 * Puts the occupants into the room as they were, without a word to anyone
 * (they are in the room already, as far as their clients know), then tells
 * them of those that are gone with their node: unavailable, status 333, as
 * for an occupant removed because of an error.
 */
export function importOccupants(room: Room, state: RoomState): void {
  for (const moved of state.occupants) {
    const occupant = room.occupants.get(moved.nick) ?? new Occupant(moved.nick, moved.bareJid);
    if (occupant.bareJid !== moved.bareJid) continue;
    occupant.role = moved.role;
    for (const [jid, presence] of moved.sessions) occupant.setSession(jid, parseElement(presence));
    room.saveOccupant(occupant);
  }
  if (state.features !== undefined) room.fire('room-import', { room, features: state.features });
  for (const [nick, affiliation] of state.gone ?? []) {
    if (room.occupants.has(nick)) continue;
    const x = mucUserX().append(item({ affiliation, role: 'none' }));
    x.c('status', { code: '333' });
    room.broadcast(el('presence', { from: nick, type: 'unavailable' }, el('status', {}, 'Disconnected: its cluster node is out'), x));
  }
}
