// The message archive of MUC rooms (XEP-0313) in LMDB: each archived message
// under [room, id] in `muc_archive`, where the id encodes when it was archived
// and a sequence number, so that ids sort in archive order and a query by time
// or by id is a range read. Appends are never awaited: lmdb-js batches them
// into its next commit, and until that commit the room's newest entries stay
// in memory so that a query sees them at once. A room keeps at most
// `maxItems` entries and none older than `maxAgeMs`.

import type { Database } from './database.js';

export interface ArchivedMessage {
  id: string;
  /** When it was archived (epoch ms). */
  at: number;
  /** The message as the room broadcast it, serialized. */
  stanza: string;
  /** The in-room JID of its sender, for the `with` filter. */
  from: string;
}

type StoredEntry = Omit<ArchivedMessage, 'id' | 'at'>;
type ArchiveKey = [room: string, id: string];

export interface ArchiveQuery {
  /** Time range, inclusive (epoch ms). */
  start?: number;
  end?: number;
  /** Only messages from this in-room JID (or, for a bare JID, from anyone in that room). */
  with?: string;
  /** Only entries after / before this id. */
  after?: string;
  before?: string;
  /** Page size. */
  max: number;
  /** The last `max` entries of the range rather than the first (RSM `<before/>`). */
  fromEnd?: boolean;
}

export interface ArchivePage {
  /** Oldest first. */
  items: ArchivedMessage[];
  /** No entries beyond this page in the direction of paging. */
  complete: boolean;
  /** Entries matching the time range and `with`, whatever the page. */
  count: number;
}

export interface ArchiveLimits {
  maxItems: number;
  maxAgeMs: number;
  now(): number;
}

/** Prosody's defaults: `storage_archive_item_limit` 1000, `muc_log_expires_after` one week. */
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxItems: 1000, maxAgeMs: 7 * 24 * 3600 * 1000, now: Date.now };

const TIME_DIGITS = 9;
const SEQUENCE_DIGITS = 4;
/** How often a room's archive is checked for expired entries. */
const EXPIRY_INTERVAL_MS = 60_000;

function encodeId(at: number, sequence: number): string {
  return at.toString(36).padStart(TIME_DIGITS, '0') + sequence.toString(36).padStart(SEQUENCE_DIGITS, '0');
}

/** The time an id encodes, or undefined for something that is not an archive id. */
function idTime(id: string): number | undefined {
  if (id.length !== TIME_DIGITS + SEQUENCE_DIGITS || !/^[0-9a-z]+$/.test(id)) return undefined;
  return parseInt(id.slice(0, TIME_DIGITS), 36);
}

/** What the archive tracks of a room it has written to in this process. */
interface RoomState {
  lastAt: number;
  sequence: number;
  count: number;
  lastExpiry: number;
  /** Ids up to this one are removed, though their removal may not be committed yet. */
  floor: string;
  /** Appended entries whose commit has not been seen yet, oldest first. */
  pending: ArchivedMessage[];
}

export class RoomArchive {
  private readonly entries;
  private readonly rooms = new Map<string, RoomState>();

  constructor(
    database: Database,
    private readonly limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
  ) {
    this.entries = database.openDB<StoredEntry, ArchiveKey>({ name: 'muc_archive' });
  }

  /** Archives a message and returns its id at once; the write commits later. */
  append(room: string, entry: StoredEntry): string {
    const state = this.stateOf(room);
    const now = Math.max(this.limits.now(), state.lastAt);
    state.sequence = now === state.lastAt ? state.sequence + 1 : 0;
    state.lastAt = now;
    const archived: ArchivedMessage = { id: encodeId(now, state.sequence), at: now, ...entry };
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

  query(room: string, query: ArchiveQuery): ArchivePage {
    const matching = this.ids(room, query.start, query.end).filter(
      (id) => query.with === undefined || this.matchesWith(this.entry(room, id), query.with),
    );
    let slice = matching;
    if (query.after !== undefined) slice = slice.filter((id) => id > (query.after as string));
    if (query.before !== undefined) slice = slice.filter((id) => id < (query.before as string));
    const page = query.fromEnd ? slice.slice(Math.max(0, slice.length - query.max)) : slice.slice(0, query.max);
    return {
      items: page.map((id) => this.entry(room, id)),
      complete: page.length === slice.length,
      count: matching.length,
    };
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

  private stateOf(room: string): RoomState {
    let state = this.rooms.get(room);
    if (state === undefined) {
      // Carry on from what an earlier process archived, so that ids keep growing.
      const ids = this.committedIds(room);
      const last = ids.at(-1);
      const lastAt = last === undefined ? 0 : (idTime(last) ?? 0);
      const sequence = last === undefined ? 0 : parseInt(last.slice(TIME_DIGITS), 36);
      state = { lastAt, sequence, count: ids.length, lastExpiry: 0, floor: '', pending: [] };
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
    const from = start === undefined ? undefined : encodeId(Math.max(0, start), 0);
    const to = end === undefined ? undefined : encodeId(Math.max(0, end), 36 ** SEQUENCE_DIGITS - 1);
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
    const stored = this.entries.get([room, id]) as StoredEntry;
    return { id, at: idTime(id) ?? 0, ...stored };
  }

  private matchesWith(entry: ArchivedMessage, withJid: string): boolean {
    return withJid.includes('/') ? entry.from === withJid : entry.from.split('/')[0] === withJid;
  }
}
