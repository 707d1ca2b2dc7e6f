// What a node knows of the rooms its own sessions are in, wherever those rooms
// live: for each session, the in-room JID, role and affiliation the room last
// showed it (its self-presence, status 110) and the presence it last sent the
// room; and for each such room, the occupants its sessions see there. When a
// room's owner dies, this is what the node tells the room's new owner
// (failover.ts), so that its sessions stay in the room without rejoining and
// the occupants nobody kept are announced as gone.
//
// It reads only presences: a session's own on their way to a room, and a
// room's on their way to the sessions here (parsed once per delivery, however
// many recipients it has), never the messages.

import { bareJid, jidResource } from '../jid/jid.js';
import { removedPresence } from '../muc/shard-keeper.js';
import type { Delivery } from '../runtime/protocol.js';
import { toDelivery } from '../runtime/shard-channel.js';
import type { Element } from '../xml/element.js';
import { topLevelElements } from '../xml/serialized.js';
import { parseElement } from '../xml/stream-parser.js';
import { NS_MUC_USER } from '../xmpp/namespaces.js';

/** One session of this node in a room, as the room last showed it. */
export interface SessionInRoom {
  /** The real full JID. */
  jid: string;
  /** The in-room JID, room@service/nick. */
  nick: string;
  role: string;
  affiliation: string;
  /** The presence the session last sent the room, serialized. */
  presence: string;
}

/** What this node tells a room's new owner. */
export interface RoomReport {
  room: string;
  sessions: SessionInRoom[];
  /** The occupants this node's sessions see in the room: in-room JID → affiliation. */
  seen: [string, string][];
}

interface RoomView {
  sessions: Map<string, SessionInRoom>;
  seen: Map<string, string>;
}

export class LocalOccupancy {
  private readonly byRoom = new Map<string, RoomView>();
  /** What each session last sent each room, until the room shows it in: full JID → room → presence. */
  private readonly lastSent = new Map<string, Map<string, string>>();

  /** A presence a session of this node sends a room (or one of its occupants). */
  sent(stanza: Element): void {
    const { from, to, type } = stanza.attrs;
    if (stanza.name !== 'presence' || from === undefined || to === undefined) return;
    const room = bareJid(to);
    let rooms = this.lastSent.get(from);
    if (type === undefined) {
      if (!rooms) this.lastSent.set(from, (rooms = new Map()));
      rooms.set(room, stanza.toString());
    }
  }

  /** Deliveries to this node's sessions: the rooms' presences among them. */
  delivered(deliveries: readonly Delivery[]): void {
    for (const delivery of deliveries) {
      if (delivery.head !== '<presence') continue;
      // A delivery to one session may go on with more stanzas for it; only the first lacks its `to`.
      const [first, ...more] = topLevelElements(delivery.head + delivery.tail);
      this.presence(parseElement(first), delivery.to);
      for (const xml of more) {
        const presence = parseElement(xml);
        if (presence.name === 'presence') this.presence(presence, delivery.to);
      }
    }
  }

  /** A session of this node ended: it is in no room any more. */
  sessionEnded(fullJid: string): void {
    const rooms = this.lastSent.get(fullJid);
    this.lastSent.delete(fullJid);
    for (const room of rooms?.keys() ?? []) this.leave(room, fullJid);
  }

  /** The rooms this node's sessions are in. */
  rooms(): IterableIterator<string> {
    return this.byRoom.keys();
  }

  /** For each session here in a room, the presence that tells it it was removed as the server shuts down (332). */
  removals(): Delivery[] {
    const deliveries: Delivery[] = [];
    for (const [room, view] of this.byRoom) {
      for (const session of view.sessions.values()) deliveries.push(toDelivery(removedPresence(room, jidResource(session.nick)), [session.jid]));
    }
    return deliveries;
  }

    report(room: string): RoomReport | undefined {
    const view = this.byRoom.get(room);
    if (view === undefined) return undefined;
    return { room, sessions: [...view.sessions.values()], seen: [...view.seen] };
  }

  private presence(presence: Element, recipients: readonly string[]): void {
    const from = presence.attrs.from;
    if (from === undefined || jidResource(from) === '') return;
    const room = bareJid(from);
    const x = presence.getChild('x', NS_MUC_USER);
    const item = x?.getChild('item');
    if (x === undefined || item === undefined) return;
    const gone = presence.attrs.type === 'unavailable';
    const codes = new Set(x.getChildren('status').map((status) => status.attrs.code));
    const view = this.byRoom.get(room);
    if (gone) view?.seen.delete(from);
    else this.viewOf(room).seen.set(from, item.attrs.affiliation ?? 'none');
    if (!codes.has('110')) return;
    for (const jid of recipients) {
      if (jidResource(jid) === '') continue;
      if (gone) {
        // A nick change (303) shows the old nickname leaving, then the new one: the session stays.
        if (view?.sessions.get(jid)?.nick === from) this.leave(room, jid, codes.has('303'));
        continue;
      }
      const sent = this.lastSent.get(jid)?.get(room);
      if (sent === undefined) continue;
      this.viewOf(room).sessions.set(jid, { jid, nick: from, role: item.attrs.role ?? 'participant', affiliation: item.attrs.affiliation ?? 'none', presence: sent });
    }
  }

  private viewOf(room: string): RoomView {
    let view = this.byRoom.get(room);
    if (!view) this.byRoom.set(room, (view = { sessions: new Map(), seen: new Map() }));
    return view;
  }

  private leave(room: string, fullJid: string, renamed = false): void {
    const view = this.byRoom.get(room);
    view?.sessions.delete(fullJid);
    if (renamed) return;
    this.lastSent.get(fullJid)?.delete(room);
    // What a room looks like matters only while a session here is in it.
    if (view?.sessions.size === 0) this.byRoom.delete(room);
  }
}
