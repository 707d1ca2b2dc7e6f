// The message archive of MUC rooms (XEP-0313) in LMDB: each archived message
// under [room, id] in `muc_archive`, where the id encodes when it was archived
// and a sequence number, so that ids sort in archive order and a query by time
// or by id is a range read. Appends are never awaited: lmdb-js batches them
// into its next commit, and until that commit the room's newest entries stay
// in memory so that a query sees them at once. A room keeps at most
// `maxItems` entries and none older than `maxAgeMs`.

import { encodeId, IdSequence, idRange, idTime, pageOf } from './archive-pages.js';
import type { Database } from './database.js';
import type { ArchivedMessage, ArchiveEntry, ArchivePage, ArchiveQuery, ArchiveStore } from './interface.js';

type ArchiveKey = [room: string, id: string];

export interface ArchiveLimits {
  maxItems: number;
  maxAgeMs: number;
  now(): number;
}

/** Prosody's defaults: `storage_archive_item_limit` 1000, `muc_log_expires_after` one week. */
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxItems: 1000, maxAgeMs: 7 * 24 * 3600 * 1000, now: Date.now };

/** How often a room's archive is checked for expired entries. */
const EXPIRY_INTERVAL_MS = 60_000;

/** What the archive tracks of a room it has written to in this process. */
interface RoomState {
  ids: IdSequence;
  count: number;
  lastExpiry: number;
  /** Ids up to this one are removed, though their removal may not be committed yet. */
  floor: string;
  /** Appended entries whose commit has not been seen yet, oldest first. */
  pending: ArchivedMessage[];
}

export class RoomArchive implements ArchiveStore {
  private readonly entries;
  private readonly rooms = new Map<string, RoomState>();

  constructor(
    private readonly database: Database,
    private readonly limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
  ) {
    this.entries = database.openDB<ArchiveEntry, ArchiveKey>({ name: 'muc_archive' });
  }

  /** Archives a message and returns its id at once; the write commits later. */
  append(room: string, entry: ArchiveEntry): string {
    const state = this.stateOf(room);
    const { id, at: now } = state.ids.next(this.limits.now());
    const archived: ArchivedMessage = { id, at: now, ...entry };
    state.pending.push(archived);
    state.count++;
    void this.entries.put([room, archived.id], entry).finally(() => {
      const index = state.pending.indexOf(archived);
      if (index >= 0) state.pending.splice(index, 1);
    });
    this.enforceLimits(room, state, now);
    return archived.id;
  }

  /** Whether the room's archive holds an entry with this id. */
  has(room: string, id: string): boolean {
    return this.ids(room).includes(id);
  }

  /** LMDB reads answer at once: nothing to ready. */
  open(): void {}

  query(room: string, query: ArchiveQuery): ArchivePage {
    return pageOf(this.ids(room, query.start, query.end), query, (id) => this.entry(room, id));
  }

  /** The newest `max` entries at or after `since` (for the discussion history), oldest first. */
  latest(room: string, max: number, since?: number): ArchivedMessage[] {
    return this.query(room, { start: since, max, fromEnd: true }).items;
  }

  /** Forgets a room's archive (the room is gone). */
  delete(room: string): void {
    const state = this.stateOf(room);
    this.drop(room, state, this.ids(room));
    state.pending = [];
  }

  async settled(): Promise<void> {
    await this.database.flushed;
  }

  /** Kept: the room's id sequence must outlive its actor while its appends are uncommitted. */
  release(): void {}

  private stateOf(room: string): RoomState {
    let state = this.rooms.get(room);
    if (state === undefined) {
      // Carry on from what an earlier process archived, so that ids keep growing.
      const ids = this.committedIds(room);
      state = { ids: IdSequence.after(ids.at(-1)), count: ids.length, lastExpiry: 0, floor: '', pending: [] };
      this.rooms.set(room, state);
    }
    return state;
  }

  /** Drops the oldest entries beyond the size bound, and now and then those past the age bound. */
  private enforceLimits(room: string, state: RoomState, now: number): void {
    const expire = now - state.lastExpiry >= EXPIRY_INTERVAL_MS;
    if (state.count <= this.limits.maxItems && !expire) return;
    // Over the bound, drop down to 99% of it (as Prosody), so that this runs once every many appends.
    const excess = state.count > this.limits.maxItems ? state.count - Math.floor(this.limits.maxItems * 0.99) : 0;
    if (!expire) {
      // Only the oldest few go: reading all of a full room's ids every tenth append cost a busy shard an eighth of its time.
      this.drop(room, state, this.oldestIds(room, excess));
      return;
    }
    state.lastExpiry = now;
    const ids = this.ids(room);
    const cutoff = encodeId(now - this.limits.maxAgeMs, 0);
    let drop = excess;
    while (drop < ids.length && ids[drop] < cutoff) drop++;
    this.drop(room, state, ids.slice(0, drop));
  }

  /** Removes the oldest entries of a room, `oldest` being its first ids in order. */
  private drop(room: string, state: RoomState, oldest: string[]): void {
    const last = oldest.at(-1);
    if (last === undefined) return;
    for (const id of oldest) void this.entries.remove([room, id]);
    state.floor = last;
    state.count -= oldest.length;
  }

  /** Ids in the time range, committed and pending, oldest first. */
  private ids(room: string, start?: number, end?: number): string[] {
    const { from, to } = idRange(start, end);
    const inRange = (id: string): boolean => (from === undefined || id >= from) && (to === undefined || id <= to);
    const floor = this.rooms.get(room)?.floor ?? '';
    const committed = this.committedIds(room, from, to).filter((id) => id > floor);
    const newest = committed.at(-1) ?? floor;
    // An entry may be committed before its promise settles: take it once.
    const pending = (this.rooms.get(room)?.pending ?? []).map((entry) => entry.id).filter((id) => id > newest && inRange(id));
    return [...committed, ...pending];
  }

  /** `ids(room).slice(0, count)`, reading no further than it must. */
  private oldestIds(room: string, count: number): string[] {
    const state = this.rooms.get(room);
    const floor = state?.floor ?? '';
    const oldest: string[] = [];
    for (const key of this.entries.getKeys({ start: [room, floor], end: [room, '\uffff'] })) {
      if (oldest.length === count) return oldest;
      if (key[0] !== room) break;
      if (key[1] > floor) oldest.push(key[1]);
    }
    // Every committed id is read: the pending ones follow, as in ids().
    const newest = oldest.at(-1) ?? floor;
    for (const entry of state?.pending ?? []) {
      if (oldest.length === count) break;
      if (entry.id > newest) oldest.push(entry.id);
    }
    return oldest;
  }

  private committedIds(room: string, from?: string, to?: string): string[] {
    const ids: string[] = [];
    const range = this.entries.getKeys({ start: [room, from ?? ''], end: [room, (to ?? '') + '\uffff'] });
    for (const key of range) {
      if (key[0] !== room) break;
      ids.push(key[1]);
    }
    return ids;
  }

  private entry(room: string, id: string): ArchivedMessage {
    const pending = this.rooms.get(room)?.pending.find((entry) => entry.id === id);
    if (pending !== undefined) return pending;
    const stored = this.entries.get([room, id]) as ArchiveEntry;
    return { id, at: idTime(id) ?? 0, ...stored };
  }
}
