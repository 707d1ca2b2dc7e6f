// The public stored rooms one shard answers for, with their names, kept in
// memory so that the service's disco#items reads no stored configuration: it
// is filled once at start and then kept up to date from every configuration
// the shard writes (the shard owning a room is the only one writing it). As
// Prosody's `room_items_cache`.

import type { RoomConfig } from './settings.js';
import { readSetting } from './settings.js';
import { PUBLIC } from './features/public.js';
import { NAME } from './features/name.js';

export class PublicRoomIndex {
  /** Room JID → name. */
  private readonly rooms = new Map<string, string | undefined>();

  /** Records a room's stored configuration; undefined when it is no longer stored. */
  record(room: string, config: RoomConfig | undefined): void {
    if (config !== undefined && readSetting(config, PUBLIC)) this.rooms.set(room, readSetting(config, NAME));
    else this.rooms.delete(room);
  }

  /** A copy, for the caller to merge the live rooms into. */
  copy(): Map<string, string | undefined> {
    return new Map(this.rooms);
  }
}
