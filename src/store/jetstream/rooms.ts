// Persistent rooms in a JetStream KV bucket, one entry per room holding its
// owner, the owner's epoch, its configuration and its affiliations. One entry,
// so that the fencing is one compare-and-set: JetStream has no transaction
// across keys, and a room's state written under several keys could not be
// fenced by a lease kept under another. The cost is that an affiliation change
// rewrites the room's whole entry (about 100 bytes per affiliation; NATS
// refuses a message over its max_payload, 1 MB by default, so about 10,000
// affiliations in one room).
//
// The lease: `load` (or `acquire`) writes the entry with this node as owner
// and the next epoch, conditional on the revision it read; every later write
// is conditional on the revision this node's last write produced. Whoever
// writes the entry in between (another node taking the room) moves the
// revision, and this node's next write is refused with FencedOut.
//
// A room with no configuration in its entry is not stored (a temporary room,
// or one whose persistence ended): its entry carries the lease and, for a
// live temporary room, its configuration and affiliations under `temporary`
// (for the node that takes it over if its owner dies), and is deleted when
// the room's actor leaves this node.

import type { KV, KvEntry } from 'nats';
import type { Logger } from '../../log.js';
import { FencedOut, type RoomConfig, type RoomLease, type RoomOwnership, type RoomStateStore, type RoomWrite, type StoredRoom } from '../interface.js';
import { isWrongRevision, toToken, fromToken } from './names.js';

interface RoomEntry<Affiliation> {
  owner: string;
  epoch: number;
  config?: RoomConfig;
  affiliations: [string, Affiliation][];
  temporary?: { config: RoomConfig; affiliations: [string, Affiliation][] };
}

/** What this node holds of a room it owns: its lease, and the entry as its last write left it. */
interface Held<Affiliation> {
  lease: RoomLease;
  revision: number;
  entry: RoomEntry<Affiliation>;
}

export class JetStreamRoomStore<Affiliation = unknown> implements RoomStateStore<Affiliation>, RoomOwnership {
  private readonly leases = new Map<string, Held<Affiliation>>();

  constructor(
    private readonly kv: KV,
    /** This node's name (`cluster.node`), which its leases carry. */
    private readonly node: string,
    private readonly log: Logger,
  ) {}

  async load(room: string): Promise<StoredRoom<Affiliation> | undefined> {
    await this.acquire(room);
    const { entry } = this.leases.get(room) as Held<Affiliation>;
    if (entry.config !== undefined) return { config: entry.config, affiliations: new Map(entry.affiliations) };
    if (entry.temporary !== undefined) return { config: entry.temporary.config, affiliations: new Map(entry.temporary.affiliations), temporary: true };
    return undefined;
  }

  async acquire(room: string): Promise<RoomLease> {
    const key = toToken(room);
    for (;;) {
      const read = await this.kv.get(key);
      const current = stateOf<Affiliation>(read);
      // The epoch outgrows every earlier one, also after the entry was deleted: a deletion's revision exceeds the epochs before it.
      const epoch = Math.max(current?.epoch ?? 0, read?.revision ?? 0) + 1;
      const entry: RoomEntry<Affiliation> = { affiliations: [], ...current, owner: this.node, epoch };
      try {
        const revision = read === null ? await this.kv.create(key, encode(entry)) : await this.kv.update(key, encode(entry), read.revision);
        const lease = { room, node: this.node, epoch };
        this.leases.set(room, { lease, revision, entry });
        return lease;
      } catch (err) {
        // Another node took it between the read and the write: read again.
        if (!isWrongRevision(err) && !isExisting(err)) throw err;
      }
    }
  }

  async owner(room: string): Promise<RoomLease | undefined> {
    const entry = stateOf(await this.kv.get(toToken(room)));
    return entry === undefined ? undefined : { room, node: entry.owner, epoch: entry.epoch };
  }

  held(room: string): RoomLease | undefined {
    return this.leases.get(room)?.lease;
  }

  async list(which?: (room: string) => boolean): Promise<[string, RoomConfig][]> {
    const rooms: [string, RoomConfig][] = [];
    for (const room of await this.keys()) {
      if (which !== undefined && !which(room)) continue;
      const config = stateOf(await this.kv.get(toToken(room)))?.config;
      if (config !== undefined) rooms.push([room, config]);
    }
    return rooms;
  }

  async jids(): Promise<string[]> {
    return (await this.list()).map(([room]) => room);
  }

  async has(room: string): Promise<boolean> {
    return stateOf(await this.kv.get(toToken(room)))?.config !== undefined;
  }

  write(room: string, change: RoomWrite<Affiliation>): Promise<void> {
    return this.fenced(room, (entry) => {
      const affiliations = new Map(change.replace ? [] : entry.affiliations);
      for (const [user, affiliation] of change.affiliations) {
        if (affiliation === undefined) affiliations.delete(user);
        else affiliations.set(user, affiliation);
      }
      return { ...entry, config: change.config ?? (change.replace ? undefined : entry.config), affiliations: [...affiliations], temporary: undefined };
    });
  }

  keepTemporary(room: string, state: StoredRoom<Affiliation>): Promise<void> {
    return this.fenced(room, (entry) => ({ owner: entry.owner, epoch: entry.epoch, affiliations: [], temporary: { config: state.config, affiliations: [...state.affiliations] } }));
  }

  delete(room: string): Promise<void> {
    return this.fenced(room, (entry) => ({ owner: entry.owner, epoch: entry.epoch, affiliations: [] }));
  }

  /**
   * Removes every affiliation of a bare JID (and any nickname it reserved)
   * from every stored room, for `conclave deluser`; the rooms it was in. Each
   * room's entry is rewritten conditional on its revision, keeping its owner
   * and epoch: the owner's next write finds the revision moved but its lease
   * intact, and carries on from the new entry.
   */
  async forgetUser(user: string): Promise<string[]> {
    const rooms: string[] = [];
    for (const room of await this.keys()) {
      for (;;) {
        const read = await this.kv.get(toToken(room));
        const entry = stateOf<Affiliation>(read);
        if (read === null || entry === undefined || !entry.affiliations.some(([jid]) => jid === user)) break;
        const affiliations = entry.affiliations.filter(([jid]) => jid !== user);
        try {
          await this.kv.update(toToken(room), encode({ ...entry, affiliations }), read.revision);
          rooms.push(room);
          break;
        } catch (err) {
          if (!isWrongRevision(err)) throw err;
        }
      }
    }
    return rooms;
  }

  /** Drops the lease; a room that is not stored loses its entry too, unless another node took it meanwhile. */
  release(room: string): void {
    const held = this.leases.get(room);
    if (held === undefined) return;
    this.leases.delete(room);
    if (held.entry.config !== undefined) return;
    this.kv.delete(toToken(room), { previousSeq: held.revision }).catch((err: unknown) => {
      if (!isWrongRevision(err)) this.log.warn({ err, room }, 'could not delete the lease of a room that is not stored');
    });
  }

  /** Writes the room's entry as `change` makes it, if this node's lease still holds. */
  private async fenced(room: string, change: (entry: RoomEntry<Affiliation>) => RoomEntry<Affiliation>): Promise<void> {
    const held = this.leases.get(room);
    if (held === undefined) throw new FencedOut(room, undefined, await this.owner(room));
    for (;;) {
      const entry = change(held.entry);
      try {
        held.revision = await this.kv.update(toToken(room), encode(entry), held.revision);
        held.entry = entry;
        return;
      } catch (err) {
        if (!isWrongRevision(err)) throw err;
      }
      const read = await this.kv.get(toToken(room));
      const current = stateOf<Affiliation>(read);
      if (read !== null && current?.owner === this.node && current.epoch === held.lease.epoch) {
        // Still this lease: an earlier write of ours landed though its acknowledgement was lost (NATS went away). Carry on from it.
        held.revision = read.revision;
        held.entry = current;
        continue;
      }
      this.leases.delete(room);
      throw new FencedOut(room, held.lease, current === undefined ? undefined : { room, node: current.owner, epoch: current.epoch });
    }
  }

  private async keys(): Promise<string[]> {
    const rooms: string[] = [];
    for await (const key of await this.kv.keys()) rooms.push(fromToken(key));
    return rooms;
  }
}

function stateOf<Affiliation>(read: KvEntry | null): RoomEntry<Affiliation> | undefined {
  return read === null || read.operation !== 'PUT' ? undefined : read.json<RoomEntry<Affiliation>>();
}

function encode(entry: RoomEntry<unknown>): Uint8Array {
  return Buffer.from(JSON.stringify(entry));
}

/** kv.create refuses a key that holds a value: someone created it since it was read. */
function isExisting(err: unknown): boolean {
  return err instanceof Error && /exists/i.test(err.message);
}
