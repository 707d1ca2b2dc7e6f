// What a node keeps of MUC rooms, whatever keeps it: LMDB on a single node
// (src/store/rooms.ts, archive.ts), NATS JetStream in a cluster
// (src/store/jetstream/). The room actor and the MUC service see only these
// interfaces; src/store/open.ts picks the implementation from the config.
//
// A networked store answers later, so loading a room's state may return a
// promise: the actor queues the room's stanzas, in order, until it settles.
// LMDB answers at once and returns the value itself, so a single node pays no
// promise per room start.
//
// Ownership is fenced: in a cluster, the node that loads a room takes its
// lease (`RoomLease`), and every later write of the room's state is a
// compare-and-set against the revision that lease holds. When another node
// has taken the room since, the write is refused with `FencedOut`, never
// applied. docs/cluster-store.md describes the API the cluster layer calls.

import type { ScramCredential, ScramHash } from '../xmpp/scram.js';
import type { AccountChange } from './accounts.js';

/**
 * Accounts of the `internal` auth back end: salted SCRAM credentials, and the
 * log of changes that end an account's sessions (deletion, new password).
 * Reads answer at once, as the front end asks at every login; writes come
 * from `conclave adduser`, `passwd` and `deluser`.
 */
export interface AccountsStore {
  /** No account at all: a fresh server nobody can log in to yet. */
  isEmpty(): boolean;
  credential(bareJid: string, hash: ScramHash): ScramCredential | undefined;
  /** Creates the account; false when it already exists. */
  create(bareJid: string, password: string): Promise<boolean>;
  /** Replaces its credentials; false when there is no such account. */
  setPassword(bareJid: string, password: string): Promise<boolean>;
  /** Deletes it; false when there was none. */
  delete(bareJid: string): Promise<boolean>;
  /** The number of the last logged change (0 before any). */
  changeSequence(): number;
  /** The logged changes numbered after `sequence`, oldest first. */
  changesAfter(sequence: number): AccountChange[];
}

/** A value now, or later. */
export type Loading<T> = T | Promise<T>;

/** A room's configuration, its settings by key; the store keeps it whole. */
export type RoomConfig = Record<string, unknown>;

// `Affiliation` is one user's affiliation as the MUC records it (muc/roles.ts);
// the store keeps it whole and never looks inside.

export interface StoredRoom<Affiliation> {
  config: RoomConfig;
  affiliations: Map<string, Affiliation>;
  /** A temporary room's state, kept for its next owner (`keepTemporary`): the room is not stored. */
  temporary?: boolean;
}

export interface RoomWrite<Affiliation> {
  /** The whole configuration, when it changed. */
  config?: RoomConfig;
  /** Affiliations that changed; undefined removes one. */
  affiliations: Iterable<[string, Affiliation | undefined]>;
  /** Drop whatever was stored for the room before writing (it just became persistent). */
  replace?: boolean;
}

/** Persistent rooms: configuration, affiliations and reserved nicknames (registrations). */
export interface RoomStateStore<Affiliation> {
  /**
   * The room's stored state, undefined for a room that is not stored. In a
   * cluster this also takes the room's lease for this node: the caller is the
   * room's owner from here on, until another node loads it.
   */
  load(room: string): Loading<StoredRoom<Affiliation> | undefined>;
  /** The stored rooms (those `which` takes, when given) with their configurations. */
  list(which?: (room: string) => boolean): Promise<[string, RoomConfig][]>;
  /** The JIDs of the stored rooms. */
  jids(): Promise<string[]>;
  has(room: string): Promise<boolean>;
  /** Resolves once durable; rejects with `FencedOut` when this node no longer owns the room. */
  write(room: string, change: RoomWrite<Affiliation>): Promise<void>;
  /** Removes the room's state (it is no longer persistent, or destroyed); fenced as `write`. */
  delete(room: string): Promise<void>;
  /** The room's actor is gone from this node: whatever the store held for it may go. */
  release(room: string): void;
  /**
   * Keeps a temporary room's configuration and affiliations beside its lease
   * until its actor leaves the node, for the node that takes the room over if
   * this one dies (a clustered store; fenced as `write`). `load` then returns
   * them marked `temporary`.
   */
  keepTemporary?(room: string, state: StoredRoom<Affiliation>): Promise<void>;
}

/** Who owns a room's state: the node that took its lease, and the lease's number. */
export interface RoomLease {
  room: string;
  node: string;
  /** Grows with every change of owner: a higher epoch is a later owner. */
  epoch: number;
}

/** The fencing a clustered store adds: what the cluster layer calls when it places a room. */
export interface RoomOwnership {
  /** Takes the room's lease for this node (from whoever had it); its writes are refused to the former owner from now on. */
  acquire(room: string): Promise<RoomLease>;
  /** The room's current owner, as the store has it; undefined when nobody ever took it. */
  owner(room: string): Promise<RoomLease | undefined>;
  /** The lease this node holds on the room, if it still believes it holds one. */
  held(room: string): RoomLease | undefined;
}

/** A write by a node that has lost the room's lease: refused, never applied. */
export class FencedOut extends Error {
  constructor(
    readonly room: string,
    /** The lease the writer held (undefined: it held none). */
    readonly stale: RoomLease | undefined,
    /** The room's owner now, when known. */
    readonly current: RoomLease | undefined,
  ) {
    const held = stale === undefined ? 'holds no lease on it' : `held epoch ${stale.epoch}`;
    const now = current === undefined ? 'another writer changed it' : `node ${current.node} owns it at epoch ${current.epoch}`;
    super(`write of room ${room} refused: this node ${held}, and ${now}`);
  }
}

export interface ArchivedMessage {
  id: string;
  /** When it was archived (epoch ms). */
  at: number;
  /** The message as the room broadcast it, serialized. */
  stanza: string;
  /** The in-room JID of its sender, for the `with` filter. */
  from: string;
}

export type ArchiveEntry = Omit<ArchivedMessage, 'id' | 'at'>;

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

/**
 * The MUC archive (XEP-0313). `open` readies a room's archive and the room's
 * actor awaits it before the room's first stanza; after it, every call
 * answers at once (a room's queries are the owner's, and the owner holds
 * what it needs of the archive), and appends are written behind.
 */
export interface ArchiveStore {
  open(room: string): Loading<void>;
  /** Archives a message and returns its id at once; the write completes later. */
  append(room: string, entry: ArchiveEntry): string;
  /** Whether the room's archive holds an entry with this id. */
  has(room: string, id: string): boolean;
  query(room: string, query: ArchiveQuery): ArchivePage;
  /** The newest `max` entries at or after `since` (for the discussion history), oldest first. */
  latest(room: string, max: number, since?: number): ArchivedMessage[];
  /** Forgets a room's archive (the room is gone). */
  delete(room: string): void;
  /** The room's actor is gone from this node. */
  release(room: string): void;
  /** Resolves once every append and deletion made so far is written. */
  settled(): Promise<void>;
}

/** The stores of one MUC shard, as src/store/open.ts opens them. */
export interface RoomStores<Affiliation> {
  rooms: RoomStateStore<Affiliation>;
  archive: ArchiveStore;
  /** Present in a cluster: the fencing of room ownership. */
  ownership?: RoomOwnership;
  close(): Promise<void>;
}
