// What both archives (LMDB and JetStream) share: ids that encode when an entry
// was archived and a sequence number, so that they sort in archive order and a
// time bound is an id bound; and the paging of XEP-0313 queries (RSM) over the
// matching ids.

import type { ArchivedMessage, ArchivePage, ArchiveQuery } from './interface.js';

const TIME_DIGITS = 9;
const SEQUENCE_DIGITS = 4;

export function encodeId(at: number, sequence: number): string {
  return at.toString(36).padStart(TIME_DIGITS, '0') + sequence.toString(36).padStart(SEQUENCE_DIGITS, '0');
}

/** The time an id encodes, or undefined for something that is not an archive id. */
export function idTime(id: string): number | undefined {
  if (id.length !== TIME_DIGITS + SEQUENCE_DIGITS || !/^[0-9a-z]+$/.test(id)) return undefined;
  return parseInt(id.slice(0, TIME_DIGITS), 36);
}

/** The id bounds of a time range (inclusive): the lowest id at `start`, the highest at `end`. */
export function idRange(start?: number, end?: number): { from?: string; to?: string } {
  return {
    from: start === undefined ? undefined : encodeId(Math.max(0, start), 0),
    to: end === undefined ? undefined : encodeId(Math.max(0, end), 36 ** SEQUENCE_DIGITS - 1),
  };
}

/** Hands out a room's ids: increasing, even when the clock steps back. */
export class IdSequence {
  constructor(
    private lastAt = 0,
    private sequence = 0,
  ) {}

  /** Carries on after an id an earlier writer gave out. */
  static after(last: string | undefined): IdSequence {
    if (last === undefined) return new IdSequence();
    return new IdSequence(idTime(last) ?? 0, parseInt(last.slice(TIME_DIGITS), 36));
  }

  next(clock: number): { id: string; at: number } {
    const at = Math.max(clock, this.lastAt);
    this.sequence = at === this.lastAt ? this.sequence + 1 : 0;
    this.lastAt = at;
    return { id: encodeId(at, this.sequence), at };
  }
}

export function matchesWith(entry: ArchivedMessage, withJid: string): boolean {
  return withJid.includes('/') ? entry.from === withJid : entry.from.split('/')[0] === withJid;
}

/** The page of a query over `inRange`, the ids of its time range (oldest first); `entry` reads one. */
export function pageOf(inRange: string[], query: ArchiveQuery, entry: (id: string) => ArchivedMessage): ArchivePage {
  const matching = inRange.filter((id) => query.with === undefined || matchesWith(entry(id), query.with));
  let slice = matching;
  if (query.after !== undefined) slice = slice.filter((id) => id > (query.after as string));
  if (query.before !== undefined) slice = slice.filter((id) => id < (query.before as string));
  const page = query.fromEnd ? slice.slice(Math.max(0, slice.length - query.max)) : slice.slice(0, query.max);
  return { items: page.map(entry), complete: page.length === slice.length, count: matching.length };
}
