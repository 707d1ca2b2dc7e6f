// The MUC archive in a JetStream stream: one subject per room, each message
// the stanzas the room archived while the previous message was on its way (one
// when the room is quiet, many when it is busy: a publish per stanza cost a busy
// node as much as delivering it). What the shard's rooms archive goes out
// together every `WRITE_HOLD_MS` at most: each publish and each acknowledgement
// is a socket write and a wake-up on both ends, fewer when the rooms' publishes
// share them (bench/PERFORMANCE.md, "Cheaper crossings"). The stream bounds each room's messages
// (max_msgs_per_subject) and their age (max_age); the owner keeps the newest
// `maxItems` entries, as `storage_archive_item_limit` and
// `muc_log_expires_after` do in Prosody.
//
// The room's owner reads the room's subject when it opens the room and keeps
// the entries in memory, bounded as the stream is: queries by time, id and
// RSM page are answered from there, at once, as the room actor needs. Appends
// are published behind, one after the other, each conditional on the subject's
// last sequence as this node left it. Opening publishes an ownership marker
// the same way, so a former owner still appending (partitioned) finds its
// next append refused: it is logged and the archive stops writing that room.
// A deletion is a tombstone (fenced the same way) and a purge of what came
// before it.

import type { JetStreamClient, JetStreamManager } from 'nats';
import type { Logger } from '../../log.js';
import { IdSequence, idRange, pageOf } from '../archive-pages.js';
import type { ArchiveLimits } from '../archive.js';
import type { ArchivedMessage, ArchiveEntry, ArchivePage, ArchiveQuery, ArchiveStore } from '../interface.js';
import { isWrongRevision, toToken } from './names.js';
import type { StreamPublisher } from './publisher.js';

type ArchiveRecord = { kind: 'entries'; entries: ArchivedMessage[] } | { kind: 'owner'; node: string } | { kind: 'deleted' };

/** Most of a message's payload, well under NATS's max_payload (1 MB by default), whatever piles up while NATS is away. */
const BATCH_BYTES = 256 * 1024;

/** How long an entry may wait for the other rooms' to go out with it: what a crash of the node may cost the archive besides what is on its way. */
const WRITE_HOLD_MS = 10;

interface RoomArchiveState {
  entries: ArchivedMessage[];
  /** Entries archived since the last publish started: the next one carries them. */
  unwritten: ArchivedMessage[];
  ids: IdSequence;
  /** The room subject's last sequence as this node's last write left it: its next write is conditional on it. */
  lastSequence: number;
  /** Writes in order, one at a time. */
  writing: Promise<void>;
  /** A write was refused: another node owns the room now. */
  fenced: boolean;
  /** The room's actor left: forget the room once its writes are done, unless it is opened again first. */
  released: boolean;
}

export class JetStreamArchive implements ArchiveStore {
  private readonly rooms = new Map<string, RoomArchiveState>();
  /** Rooms with entries waiting for the next hold to end. */
  private readonly held = new Map<RoomArchiveState, string>();
  private holdTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly publisher: StreamPublisher,
    private readonly stream: string,
    private readonly node: string,
    private readonly limits: ArchiveLimits,
    private readonly log: Logger,
  ) {}

  async open(room: string): Promise<void> {
    const known = this.rooms.get(room);
    if (known !== undefined) {
      known.released = false;
      return;
    }
    for (;;) {
      const { entries, lastSequence } = await this.read(room);
      try {
        const marked = await this.publish(room, { kind: 'owner', node: this.node }, lastSequence);
        this.rooms.set(room, { entries, unwritten: [], ids: IdSequence.after(entries.at(-1)?.id), lastSequence: marked, writing: Promise.resolve(), fenced: false, released: false });
        return;
      } catch (err) {
        // Another node wrote the room since the read (it still held it): read again.
        if (!isWrongRevision(err)) throw err;
      }
    }
  }

  append(room: string, entry: ArchiveEntry): string {
    const state = this.stateOf(room);
    const { id, at } = state.ids.next(this.limits.now());
    const archived: ArchivedMessage = { id, at, ...entry };
    state.entries.push(archived);
    if (state.entries.length > this.limits.maxItems) state.entries.splice(0, state.entries.length - this.limits.maxItems);
    // The first entry since the last publish started queues the next one (after the hold), which takes the entries archived until it starts.
    if (state.unwritten.push(archived) === 1) this.hold(room, state);
    return id;
  }

  has(room: string, id: string): boolean {
    return this.current(room).some((entry) => entry.id === id);
  }

  query(room: string, query: ArchiveQuery): ArchivePage {
    const { from, to } = idRange(query.start, query.end);
    const inRange = this.current(room).filter((entry) => (from === undefined || entry.id >= from) && (to === undefined || entry.id <= to));
    const byId = new Map(inRange.map((entry) => [entry.id, entry]));
    return pageOf([...byId.keys()], query, (id) => byId.get(id) as ArchivedMessage);
  }

  latest(room: string, max: number, since?: number): ArchivedMessage[] {
    return this.query(room, { start: since, max, fromEnd: true }).items;
  }

  delete(room: string): void {
    const state = this.stateOf(room);
    state.entries = [];
    state.unwritten = [];
    this.write(room, state, () => ({ kind: 'deleted' }), (tombstone) => this.jsm.streams.purge(this.stream, { filter: this.subject(room), seq: tombstone }));
  }

  release(room: string): void {
    const state = this.rooms.get(room);
    if (state === undefined) return;
    state.released = true;
    this.writeHeld(state);
    void state.writing.then(() => {
      if (state.released && this.rooms.get(room) === state) this.rooms.delete(room);
    });
  }

  async settled(): Promise<void> {
    for (const state of [...this.held.keys()]) this.writeHeld(state);
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    await Promise.all([...this.rooms.values()].map((state) => state.writing));
  }

  /** Holds the room's unwritten entries until the hold ends, for the other rooms' to go with them. */
  private hold(room: string, state: RoomArchiveState): void {
    this.held.set(state, room);
    this.holdTimer ??= setTimeout(() => {
      this.holdTimer = undefined;
      for (const held of [...this.held.keys()]) this.writeHeld(held);
    }, WRITE_HOLD_MS);
  }

  /** Queues the publish of what the room holds now, if it holds anything. */
  private writeHeld(state: RoomArchiveState): void {
    const room = this.held.get(state);
    if (room === undefined) return;
    this.held.delete(state);
    this.writeUnwritten(room, state);
  }

  /** Queues a publish of the unwritten entries, as many as fit a message; it queues the next for the rest. */
  private writeUnwritten(room: string, state: RoomArchiveState): void {
    this.write(room, state, () => {
      let bytes = 0;
      let count = 0;
      for (const entry of state.unwritten) {
        bytes += entry.stanza.length + entry.from.length;
        if (count > 0 && bytes > BATCH_BYTES) break;
        count++;
      }
      const entries = state.unwritten.splice(0, count);
      if (state.unwritten.length > 0) this.writeUnwritten(room, state);
      return entries.length === 0 ? undefined : { kind: 'entries', entries };
    });
  }

  /** Publishes the record `make` gives (none: nothing) after the room's earlier writes, conditional on the sequence they left; `then` runs after it. */
  private write(room: string, state: RoomArchiveState, make: () => ArchiveRecord | undefined, then?: (sequence: number) => Promise<unknown>): void {
    state.writing = state.writing.then(async () => {
      const record = make();
      if (state.fenced || record === undefined) return;
      try {
        state.lastSequence = await this.publish(room, record, state.lastSequence);
        await then?.(state.lastSequence);
      } catch (err) {
        if (isWrongRevision(err)) state.fenced = true;
        this.log.error({ err, room }, state.fenced ? 'archive write refused: another node owns the room now' : 'archive write failed');
      }
    });
  }

  private publish(room: string, record: ArchiveRecord, lastSequence: number): Promise<number> {
    return this.publisher.publish(this.subject(room), JSON.stringify(record), lastSequence);
  }

  /** The room's entries in the stream and its subject's last sequence (0 when it has none). */
  private async read(room: string): Promise<{ entries: ArchivedMessage[]; lastSequence: number }> {
    const subject = this.subject(room);
    let lastSequence: number;
    try {
      lastSequence = (await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject })).seq;
    } catch (err) {
      if (/no message found/i.test((err as Error).message)) return { entries: [], lastSequence: 0 };
      throw err;
    }
    const entries: ArchivedMessage[] = [];
    const consumer = await this.js.consumers.get(this.stream, { filterSubjects: subject });
    const messages = await consumer.consume();
    for await (const message of messages) {
      const record = message.json<ArchiveRecord>();
      if (record.kind === 'entries') entries.push(...record.entries);
      // What precedes a tombstone is gone, even if its purge did not happen.
      if (record.kind === 'deleted') entries.length = 0;
      if (message.seq >= lastSequence) break;
    }
    await messages.close();
    return { entries: entries.slice(-this.limits.maxItems), lastSequence };
  }

  /** The room's entries within the age bound. */
  private current(room: string): ArchivedMessage[] {
    const cutoff = this.limits.now() - this.limits.maxAgeMs;
    return this.stateOf(room).entries.filter((entry) => entry.at >= cutoff);
  }

  private stateOf(room: string): RoomArchiveState {
    const state = this.rooms.get(room);
    if (state === undefined) throw new Error(`the archive of room ${room} is used before it was opened`);
    return state;
  }

  private subject(room: string): string {
    return `${this.stream}.${toToken(room)}`;
  }
}
