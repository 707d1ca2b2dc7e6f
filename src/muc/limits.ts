// The bounds on what a user can set or grow in a room (config keys under
// `muc:`, see README "Limits"), and whether the shard is short of memory.
// Rooms read them through their host; the feature modules enforce them.

import type { Settings } from '../config/load.js';

export interface RoomLimits {
  /** History length of a room whose owner did not set one. */
  historyLength: number;
  /** The most history messages an owner may ask a room to keep. */
  maxHistoryLength: number;
  /** The most characters of serialized stanzas a room's history keeps. */
  maxHistoryChars: number;
  maxSubjectLength: number;
  maxNickLength: number;
  /** The ceiling of muc#roomconfig_maxusers, and the limit of rooms without one. */
  maxOccupants: number;
  /** This shard's share of muc.max_rooms and muc.max_rooms_per_user. */
  maxRoomsHere: number;
  maxRoomsPerUserHere: number;
  /** True while the shard's heap is over its budget: no new rooms, no history growth. */
  memoryShort(): boolean;
  /** Rooms live on this shard, counting one being created. */
  liveRooms(): number;
  /** Rooms live on this shard that the bare JID owns. */
  roomsOwnedBy(user: string): number;
}

/** What the shard tells the limits about itself. */
export interface ShardState {
  shardCount: number;
  memoryShort(): boolean;
  liveRooms(): number;
  roomsOwnedBy(user: string): number;
}

export function roomLimits(muc: Settings['muc'], shard: ShardState): RoomLimits {
  return {
    historyLength: muc.history_length,
    maxHistoryLength: muc.max_history_length,
    maxHistoryChars: muc.max_history_chars,
    maxSubjectLength: muc.max_subject_length,
    maxNickLength: muc.max_nick_length,
    maxOccupants: muc.max_occupants,
    maxRoomsHere: Math.ceil(muc.max_rooms / shard.shardCount),
    maxRoomsPerUserHere: Math.ceil(muc.max_rooms_per_user / shard.shardCount),
    memoryShort: shard.memoryShort,
    liveRooms: shard.liveRooms,
    roomsOwnedBy: shard.roomsOwnedBy,
  };
}
