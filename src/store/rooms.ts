// Persistent rooms in LMDB: each room's configuration under its bare JID in
// `muc_rooms`, and each affiliation (with its reserved nickname) under
// [room, user] in `muc_affiliations`, so that one affiliation change is one
// small write however large the member list. Temporary rooms are never here.
// Every write resolves once as durable as `storage.durability` says; the room
// acknowledges after that.

import type { Database } from './database.js';
import type { RoomConfig, RoomStateStore, RoomWrite, StoredRoom } from './interface.js';

type AffiliationKey = [room: string, user: string];

export class RoomStore<Affiliation = unknown> implements RoomStateStore<Affiliation> {
  private readonly rooms;
  private readonly affiliations;

  constructor(private readonly database: Database) {
    this.rooms = database.openDB<RoomConfig, string>({ name: 'muc_rooms' });
    this.affiliations = database.openDB<Affiliation, AffiliationKey>({ name: 'muc_affiliations' });
  }

  /** An LMDB read: the state itself, no promise. */
  load(room: string): StoredRoom<Affiliation> | undefined {
    const config = this.rooms.get(room);
    if (config === undefined) return undefined;
    const affiliations = new Map<string, Affiliation>();
    for (const [user, entry] of this.affiliationsOf(room)) affiliations.set(user, entry);
    return { config, affiliations };
  }

  /** The stored rooms (those `which` takes, when given) with their configurations; only those are read. */
  async list(which?: (room: string) => boolean): Promise<[string, RoomConfig][]> {
    const rooms: [string, RoomConfig][] = [];
    for (const room of this.rooms.getKeys()) {
      if (which !== undefined && !which(room)) continue;
      const config = this.rooms.get(room);
      if (config !== undefined) rooms.push([room, config]);
    }
    return rooms;
  }

  /** Without reading their configurations. */
  async jids(): Promise<string[]> {
    return [...this.rooms.getKeys()];
  }

  async has(room: string): Promise<boolean> {
    return this.rooms.doesExist(room);
  }

  write(room: string, change: RoomWrite<Affiliation>): Promise<void> {
    const write = this.database.transaction(() => {
      if (change.replace) this.removeAll(room);
      if (change.config !== undefined) void this.rooms.put(room, change.config);
      for (const [user, entry] of change.affiliations) {
        if (entry === undefined) void this.affiliations.remove([room, user]);
        else void this.affiliations.put([room, user], entry);
      }
    });
    return this.database.acknowledged(write);
  }

  /**
   * Removes every affiliation of a bare JID (and with it any nickname it
   * reserved) from every stored room; the rooms it was in. Synchronous, for the
   * caller's transaction: an account's deletion purges its rooms atomically.
   * A scan of all affiliations, as nothing is indexed by user: deleting an
   * account is rare.
   */
  forgetUser(user: string): string[] {
    const rooms: string[] = [];
    for (const key of this.affiliations.getKeys()) if (key[1] === user) rooms.push(key[0]);
    for (const room of rooms) void this.affiliations.remove([room, user]);
    return rooms;
  }

  delete(room: string): Promise<void> {
    return this.database.acknowledged(this.database.transaction(() => this.removeAll(room)));
  }

  /** Nothing is held per room: LMDB is read on each load. */
  release(): void {}

  private removeAll(room: string): void {
    void this.rooms.remove(room);
    for (const [user] of [...this.affiliationsOf(room)]) void this.affiliations.remove([room, user]);
  }

  private *affiliationsOf(room: string): Iterable<[string, Affiliation]> {
    for (const { key, value } of this.affiliations.getRange({ start: [room] })) {
      if (key[0] !== room) return;
      yield [key[1], value];
    }
  }
}
