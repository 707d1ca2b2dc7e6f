// On an I/O thread, the room-bound part of the router (router.ts): a
// session's stanzas for the MUC service go straight to the room's shard over
// the thread's links (io-links.ts), every one of them, so a session's join,
// messages, iq, presence and the leaves of its end reach each room in the
// order it sent them. Two ports into a worker are not ordered with each
// other, so no room-bound stanza of a session may take another way: what
// still needs the main thread is asked about there and waits its turn here.
//
// - A stanza that an account module must see first (carbons of a private
//   message through a room; anything an account with a block list sends, as
//   blocking refuses what goes to a blocked room or occupant) is asked about
//   on the main thread ('stanza-out', which runs those modules); the
//   session's room-bound stanzas after it wait on the thread until the answer
//   comes: go, or dropped (the module answered the client).
// - Until the main thread has said whether a module watches the account (the
//   `route` command, after the binding), the session's room stanzas wait too.
//   A watched session is kept out of the shards' session directory, so the
//   rooms' stanzas to it pass the router's room-delivery hook there.
// - The available presences the session sent to rooms are remembered here,
//   where they went, and its end (or an unavailable broadcast) sends each
//   room its leave on the same path, after everything the session sent.
//
// The session's entry in the shards' directory is placed and removed over
// the same links, in order with its stanzas: a shard knows where to send a
// session's deliveries before it handles the session's join.

import type { Settings } from '../config/load.js';
import { jidDomain } from '../jid/jid.js';
import { directoryKey } from '../runtime/shard-channel.js';
import type { Element } from '../xml/element.js';
import type { ClientSession } from './c2s-session.js';
import type { IoLinks } from './io-links.js';
import { acceptPresence, endPresence, stampFromClient } from './router.js';

/** A session's room path as it moves to another thread with the session (XEP-0198 resumption). */
export interface RoomPathState {
  ready: boolean;
  watched: boolean;
  asking: boolean;
  rooms: string[];
  waiting: Element[];
  /** The session's entry in the shards' directory, if it is placed: its key on the thread it leaves. */
  placed: number | undefined;
}

class SessionRooms {
  /** The main thread said whether a module watches the account. */
  ready = false;
  watched = false;
  /** The first waiting stanza is asked about on the main thread. */
  asking = false;
  ended = false;
  /** The room JIDs (room or room/nick) the session sent available presence to. */
  rooms = new Set<string>();
  /** Room-bound stanzas waiting for `ready` or an answer, in order. */
  waiting: Element[] = [];
  /** The directory key its entry was placed under, if it is placed. */
  placed: number | undefined;
  /** Moved here: its entry's key on the thread it left, until the shards moved it (an end before then removes either). */
  movedFrom: number | undefined;

  constructor(
    readonly session: ClientSession,
    /** Its directory key on this thread. */
    readonly key: number,
  ) {}
}

export class RoomPath {
  private readonly byId = new Map<number, SessionRooms>();
  private readonly mucDomain: string;

  constructor(
    settings: Settings,
    private readonly thread: number,
    private readonly links: IoLinks,
    /** Asks the main thread about a message of session `id`: the answer comes as `answer(id, …)`. */
    private readonly ask: (id: number, stanza: Element) => void,
  ) {
    this.mucDomain = settings.muc.domain;
  }

  /** Session `id` was bound; its room stanzas wait for `route`. */
  bound(id: number, session: ClientSession): void {
    this.byId.set(id, new SessionRooms(session, directoryKey(this.thread, id)));
  }

  /** The main thread says whether a module watches the session's account (after the binding, and when that changes). */
  route(id: number, watched: boolean): void {
    const state = this.byId.get(id);
    if (state === undefined) return;
    const first = !state.ready;
    state.ready = true;
    if (first || watched !== state.watched) {
      state.watched = watched;
      const { fullJid } = state.session;
      if (!watched && state.placed === undefined) this.links.place(fullJid, (state.placed = state.key));
      else if (watched && state.placed !== undefined) {
        this.links.unplace(fullJid, state.placed);
        state.placed = undefined;
      }
    }
    this.drain(id, state);
  }

  /** Takes a stanza of session `id` when it is for the MUC service; false leaves it to the main thread's router. */
  fromClient(id: number, stanza: Element): boolean {
    const state = this.byId.get(id);
    if (state === undefined || state.ended) return false;
    // A stanza that fails the checks is answered by the router, as every other.
    if (stampFromClient(state.session.fullJid, stanza) !== undefined) return false;
    const to = stanza.attrs.to;
    if (stanza.name === 'presence' && to === undefined) {
      // A broadcast goes to the router; an unavailable one also leaves every room, as the router would.
      if (stanza.attrs.type === 'unavailable') this.leaveAll(id, state, stanza);
      return false;
    }
    if (to === undefined || jidDomain(to) !== this.mucDomain) return false;
    if (stanza.name === 'presence') {
      if (!acceptPresence(stanza)) return false;
      const type = stanza.attrs.type;
      if (type === undefined) state.rooms.add(to);
      else if (type === 'unavailable' || type === 'error') state.rooms.delete(to);
    }
    this.send(id, state, stanza);
    return true;
  }

  /** The main thread's answer about the message asked about: it goes on, or it is dropped. */
  answer(id: number, send: boolean): void {
    const state = this.byId.get(id);
    if (state === undefined || !state.asking) return;
    state.asking = false;
    const stanza = state.waiting.shift()!;
    if (send) this.links.dispatch(stanza, state.session);
    this.drain(id, state);
  }

  /** Session `id` ended: each room it is in gets its leave, after what it sent; then its directory entry goes. */
  ended(id: number, reason: string | undefined): void {
    const state = this.byId.get(id);
    if (state === undefined) return;
    this.leaveAll(id, state, endPresence(state.session.fullJid, reason));
    state.ended = true;
    this.drain(id, state);
  }

  /** Session `id` leaves for another thread, silently: what it waits for and where it is go with it. */
  handOver(id: number): RoomPathState | undefined {
    const state = this.byId.get(id);
    if (state === undefined) return undefined;
    this.byId.delete(id);
    const { ready, watched, asking, waiting, placed } = state;
    return { ready, watched, asking, waiting, placed, rooms: [...state.rooms] };
  }

  /**
   * Session `id` moved here from another thread with its room path. Returns
   * its directory key there when it was placed: the shards are to move the
   * entry here (move-fence.ts), and it is taken as placed here from now on.
   */
  adopt(id: number, session: ClientSession, fullJid: string, carried: RoomPathState): number | undefined {
    const state = new SessionRooms(session, directoryKey(this.thread, id));
    Object.assign(state, { ...carried, rooms: new Set(carried.rooms), movedFrom: carried.placed });
    this.byId.set(id, state);
    if (carried.placed !== undefined) this.links.expect(fullJid, (state.placed = state.key));
    this.drain(id, state);
    return carried.placed;
  }

  private leaveAll(id: number, state: SessionRooms, unavailable: Element): void {
    for (const room of state.rooms) this.send(id, state, unavailable.clone().setAttr('to', room));
    state.rooms.clear();
  }

  private send(id: number, state: SessionRooms, stanza: Element): void {
    state.waiting.push(stanza);
    if (state.waiting.length === 1) this.drain(id, state);
  }

  /** Sends what waits, up to the first stanza the main thread must see; an ended session's entry goes once nothing waits. */
  private drain(id: number, state: SessionRooms): void {
    if (!state.ready || state.asking) return;
    const { waiting } = state;
    let sent = 0;
    for (; sent < waiting.length; sent++) {
      const stanza = waiting[sent]!;
      if (state.watched || (stanza.name === 'message' && stanza.attrs.type !== 'groupchat')) {
        state.asking = true;
        this.ask(id, stanza);
        break;
      }
      this.links.dispatch(stanza, state.session);
    }
    waiting.splice(0, sent);
    if (!state.ended || waiting.length > 0) return;
    if (state.movedFrom !== undefined) this.links.unplace(state.session.fullJid, state.movedFrom);
    if (state.placed !== undefined) this.links.unplace(state.session.fullJid, state.placed);
    this.byId.delete(id);
  }
}
