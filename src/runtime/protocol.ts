// What crosses between the front end (main thread) and the shard workers.
//
// Inbound, the front end hands a shard a batch: every stanza for that shard's
// rooms that arrived in one event-loop turn, in arrival order, `from` already
// stamped with the sender's full JID (paced by `muc.thread_batch_delay_ms`,
// every stanza of one pace under steady traffic: paced-flush.ts). Stanzas travel as plain element trees
// (structured clone), revived with `Element.revive` on the other side.
//
// Outbound, a shard returns deliveries: one serialized stanza plus the JIDs it
// goes to. The stanza is split where its `to` attribute belongs, so the front
// end writes `head + " to='" + escapedJid + "'" + tail` per recipient
// (`addressedTo` in shard-channel.ts) instead of the shard serializing N copies.
// Consecutive stanzas for one full JID (a newcomer's occupant list, say) travel
// as one delivery: the first split as usual, the others already addressed, so
// a list of N presences costs one delivery and one write instead of N.
// With I/O threads, a delivery is split per thread at the shard: each thread
// gets the stanza once with its own recipients over a direct port (see
// shard-channel.ts), so a room of 500 costs one crossing per thread.
//
// Each inbound stanza comes with a receipt, a number the pool gave it, and the
// shard hands the receipt back once it has handled the stanza, in the same
// output as what the stanza produced. The pool keeps every stanza it posted
// until then: when the worker dies, those whose receipts have not come back
// are answered with an error (see shard-pool.ts), not silently lost.

import type { Element } from '../xml/element.js';
import type { Settings } from '../config/load.js';
import type { StanzaErrorCondition } from '../xmpp/errors.js';

export interface Delivery {
  /** Serialized stanza up to its first attribute, e.g. `<message`. */
  head: string;
  /**
   * The rest, starting after where `to` goes, e.g. ` from='r@c/n' type='groupchat'>…</message>`.
   * For a single full-JID recipient it may go on with more stanzas already addressed to it.
   */
  tail: string;
  /** Recipients (full or bare JIDs), in the order they should be written. */
  to: string[];
}

/**
 * A fact the application on a shard tells its main-thread side (its
 * `ShardKeeper`), e.g. who is in which room; structured-cloned and carried as is.
 */
export interface ShardEvent {
  kind: string;
}

/** One flush from a shard: deliveries in order, events, and the receipts of the stanzas it handled. */
export interface ShardOutput {
  /** Those for recipients the session directory does not place on an I/O thread linked to the shard. */
  deliveries: Delivery[];
  /** How many deliveries went straight to I/O threads in the same turn, posted right after this output. */
  direct: number;
  events: ShardEvent[];
  /**
   * Receipts handled since the last flush, as flat `[start, end)` pairs: a
   * turn that handles its stanzas in order returns one pair, not one number each.
   */
  handled: number[];
}

/** What the room side writes to; the runtime batches it per event-loop turn. */
export interface Outbox {
  /** Sends `stanza` to each recipient; any `to` attribute on it is replaced. */
  send(stanza: Element, to: string | readonly string[]): void;
  event(event: ShardEvent): void;
  /**
   * The stanza received with this receipt is handled: what it produced has
   * been sent. Called once per stanza, after those sends, in the same turn.
   */
  handled(receipt: number): void;
}

/** What runs inside a shard worker: the application (the MUC service) for that shard's rooms. */
export interface ShardApplication {
  /**
   * One inbound stanza, in arrival order. Must not throw for bad input. Once
   * the stanza is handled, now or after an await, the application calls
   * `outbox.handled(receipt)`; until then, the pool answers it with an error
   * if the worker dies.
   */
  receive(stanza: Element, receipt: number): void;
  /** As `ShardKeeper.errorAnswer`: the answer to a stanza `receive` threw on. */
  errorAnswer(stanza: Element, condition: StanzaErrorCondition): Element | undefined;
  /** A description of a room for the debug view (undefined when not loaded). */
  inspect(roomJid: string): Record<string, unknown> | undefined;
  /**
   * The account `user` (a bare JID) was deleted: the live rooms drop its
   * affiliations and reserved nicknames. The stored rooms were purged with the
   * account itself.
   */
  forgetUser(user: string): void;
  /**
   * Debug: occupies the room's mailbox for `ms` milliseconds, as a slow handler
   * would. Tests use it to show that the room's other stanzas wait while other
   * rooms go on.
   */
  stall(roomJid: string, ms: number): void;
  /** Finish pending writes before the worker is shut down. */
  close(): Promise<void>;
}

export interface ShardContext {
  shardIndex: number;
  shardCount: number;
  settings: Settings;
  outbox: Outbox;
  /**
   * Handles at once whatever the pool has already posted to this shard and
   * the shard has not yet read. A question from another shard (over another
   * channel) may overtake the pool's stanzas that caused it; answering after
   * this answers after them. Optional: a shard fed by no pool has nothing to read.
   */
  catchUp?(): void;
}

export type ShardApplicationFactory = (context: ShardContext) => Promise<ShardApplication>;

/**
 * What the application keeps on the main thread about one shard, so that it
 * can speak for the shard when the shard's worker is gone: it died, or the
 * shard closed.
 */
export interface ShardKeeper {
  /** An event the shard's application sent, in order with its deliveries. */
  apply(event: ShardEvent): void;
  /** The worker is gone: what the users of the shard's rooms must be told. Forgets what it knew. */
  workerGone(): Delivery[];
  /**
   * The answer to a stanza the shard will not handle (`condition` says why),
   * addressed to its sender; undefined for one that takes no answer.
   */
  errorAnswer(stanza: Element, condition: StanzaErrorCondition): Element | undefined;
  /** The number of users in each occupied room, for /metrics and /status. */
  roomSizes(): number[];
}

/** An application the shards run: its side in each shard worker, and its side on the main thread. */
export interface ShardApplicationSpec {
  /** The file URL of a module whose default export is the `ShardApplicationFactory` the workers run. */
  workerModule: string;
  /** A keeper for one shard, made on the main thread for each shard when the pool starts. */
  keeper(settings: Settings): ShardKeeper;
}
