// A room actor: one room's mailbox and the unit of work around each stanza.
// Stanzas are handled one at a time, to completion. While a stanza is handled,
// what the room sends and the occupancy changes it reports are held back; when
// the handling changed something a persistent room keeps, the actor writes it
// to the store and waits for it. Then everything held back goes out at once,
// in order, so that a client gets all the stanzas one request produced together
// and an acknowledgement never precedes its write. A store that answers later
// (JetStream, in a cluster) has the actor queue its first stanzas, in order,
// until the room's state is loaded.

import { nodeprep } from '../jid/stringprep.js';
import type { Logger } from '../log.js';
import { Mailbox } from '../runtime/mailbox.js';
import type { Outbox } from '../runtime/protocol.js';
import { FencedOut, type ArchiveStore, type Loading, type RoomStateStore, type RoomWrite, type StoredRoom } from '../store/interface.js';
import type { RoomConfig } from './settings.js';
import type { MucSettings } from './room.js';
import type { Element } from '../xml/element.js';
import type { RoomHooks } from './events.js';
import type { RoomLimits } from './limits.js';
import { handleFirstPresence, handleRoomStanza } from './lifecycle.js';
import { Room, type RoomHost } from './room.js';
import { PERSISTENT } from './settings.js';
import { errorReply, isAnswerable, NS_MUC, type StanzaError } from './stanzas.js';
import type { OccupantEvent } from './shard-keeper.js';
import type { AffiliationEntry } from './roles.js';
import { exportAnswer, exportRoom, importOccupants, transferOf, type RoomState } from './transfer.js';

export type RoomMail =
  /** `receipt`: the shard runtime's number for the stanza, handed back once it is handled. */
  | { kind: 'stanza'; stanza: Element; receipt: number }
  | { kind: 'stall'; ms: number }
  /** A service admin destroys the room; `done` learns whether there was a room to destroy. */
  | { kind: 'destroy'; reason?: string; done(destroyed: boolean): void }
  /** The account `user` was deleted: it loses its affiliation and reserved nickname here. */
  | { kind: 'forget-user'; user: string };

type Outgoing = { stanza: Element; to: string | readonly string[] } | { nick: string; jid: string; present: boolean };

/** What the actors of one shard share. */
export interface RoomEnvironment {
  serviceDomain: string;
  admins: ReadonlySet<string>;
  hooks: RoomHooks;
  outbox: Outbox;
  store: RoomStateStore<AffiliationEntry>;
  archive: ArchiveStore;
  /** Told of every configuration stored (undefined: the room is no longer stored). */
  configStored(room: string, config: RoomConfig | undefined): void;
  log: Logger;
  mailboxLimit: number;
  /** Stanzas a room handles in a row before the shard turns to other rooms and new input. */
  turnBudget: number;
  limits: RoomLimits;
  /** The service's configuration (`muc` in the config file), for the features that read it. */
  settings: MucSettings;
  /** Called when the actor has no room and nothing queued: the service forgets it. */
  retire(actor: RoomActor): void;
}

export class RoomActor implements RoomHost {
  room: Room | undefined;
  /** Whether the store holds this room. */
  private stored = false;
  /** Whether the room's state came from the store; until then stanzas wait, in order. */
  private loaded = false;
  /** A temporary room's state as the store kept it, until an import takes it. */
  private keptTemporary: StoredRoom<AffiliationEntry> | undefined;
  /** The load in progress. */
  private loading: Promise<void> | undefined;
  private readonly mailbox: Mailbox<RoomMail>;
  private held: Outgoing[] = [];
  /** The commit in progress, for a clean shutdown. */
  pendingWrite: Promise<void> | undefined;

  constructor(
    readonly jid: string,
    private readonly env: RoomEnvironment,
  ) {
    // A failed load is the waiting stanza's to answer (with a temporary error), not the process's.
    this.load()?.catch(() => {});
    this.mailbox = new Mailbox<RoomMail>(
      (mail) => this.handle(mail),
      env.mailboxLimit,
      (err, mail) => this.failed(err, mail),
      // By now release() has sent what the stanza produced.
      (mail) => {
        if (mail.kind === 'stanza') env.outbox.handled(mail.receipt);
      },
      env.turnBudget,
    );
  }

  get serviceDomain(): string {
    return this.env.serviceDomain;
  }

  get admins(): ReadonlySet<string> {
    return this.env.admins;
  }

  get archive(): ArchiveStore {
    return this.env.archive;
  }

  get limits(): RoomLimits {
    return this.env.limits;
  }

  get settings(): MucSettings {
    return this.env.settings;
  }

  get queued(): number {
    return this.mailbox.size;
  }

  /** Queues mail; false when the mailbox is full (a deleted account's removal is queued even then). */
  post(mail: RoomMail): boolean {
    return this.mailbox.post(mail, mail.kind === 'forget-user');
  }

  send(stanza: Element, to: string | readonly string[]): void {
    this.held.push({ stanza, to });
  }

  occupancy(nick: string, jid: string, present: boolean): void {
    this.held.push({ nick, jid, present });
  }

  /** The room's state and archive, at once when the store has them at hand. */
  private load(): Loading<void> {
    const record = this.env.store.load(this.jid);
    const archive = this.env.archive.open(this.jid);
    if (!(record instanceof Promise) && !(archive instanceof Promise)) return this.adopt(record);
    this.loading = Promise.all([record, archive]).then(
      ([loaded]) => this.adopt(loaded),
      (err: unknown) => {
        // The next stanza tries again.
        this.loading = undefined;
        throw err;
      },
    );
    return this.loading;
  }

  private adopt(record: StoredRoom<AffiliationEntry> | undefined): void {
    this.loaded = true;
    this.loading = undefined;
    this.stored = record !== undefined && record.temporary !== true;
    this.room = this.stored ? new Room(this.jid, this.env.hooks, this, record!) : undefined;
    // What a temporary room kept in the store is for a node that takes it over after its owner died (importState), not for a room started afresh.
    this.keptTemporary = record?.temporary === true ? record : undefined;
  }

  private handle(mail: RoomMail): void | Promise<void> {
    const transfer = mail.kind === 'stanza' ? transferOf(mail.stanza, this.env.serviceDomain) : undefined;
    if (transfer?.kind === 'export') return this.exportState();
    if (transfer?.kind === 'import') return this.importState(transfer.state);
    if (!this.loaded) {
      return Promise.resolve(this.loading ?? this.load()).then(
        () => this.handle(mail),
        (err: unknown) => {
          if (mail.kind === 'destroy') mail.done(false);
          throw err;
        },
      );
    }
    if (mail.kind === 'stall') return new Promise<void>((resolve) => setTimeout(resolve, mail.ms)).then(() => this.settle());
    if (mail.kind === 'destroy') return this.destroy(mail);
    if (mail.kind === 'forget-user') {
      // As if an owner had removed it: occupants and moderators hear of it. Storage
      // may be without it already (`conclave deluser` purges stored rooms itself).
      if (this.room?.affiliations.has(mail.user)) this.room.setAffiliation(true, mail.user, 'none', { nick: null });
      return this.commit();
    }
    this.dispatch(mail.stanza);
    return this.commit(() => this.replyError(mail.stanza, { type: 'wait', condition: 'internal-server-error' }));
  }

  /**
   * Hands the room to another node of the cluster: its state goes out once
   * what was queued before is handled and archived, and the room ends here
   * without a word to its occupants, who are in it on the new owner.
   */
  private async exportState(): Promise<void> {
    await this.loading?.catch(() => undefined);
    await this.env.archive.settled();
    this.giveUp(this.room && exportRoom(this.room));
    this.release();
  }

  /** The room ends here without a word to its occupants; its live state goes to the cluster layer, for the room's owner. */
  private giveUp(state: RoomState | undefined): void {
    this.send(exportAnswer(this.jid, this.env.serviceDomain, state), this.env.serviceDomain);
    for (const occupant of this.room?.occupants.values() ?? []) for (const jid of occupant.liveSessions()) this.occupancy(occupant.name, jid, false);
    this.room = undefined;
    // Should the room come back here, its state is loaded afresh.
    this.loaded = false;
    this.stored = false;
  }

  /** Takes the room over from another node: its lease and archive from the store, its live state from the transfer. */
  private async importState(state: RoomState): Promise<void> {
    // A load under way (the actor was made for this import) is as fresh as another; a room loaded before is not.
    if (this.loading === undefined) this.loaded = false;
    await (this.loading ?? this.load());
    // A stored room's configuration and affiliations are the store's: every acknowledged change is there, while the
    // sender may be a former owner that lost its lease unaware (a split view of the members) and missed some of them.
    if (state.config !== undefined && !this.stored) {
      this.room = new Room(this.jid, this.env.hooks, this, { config: state.config, affiliations: new Map(state.affiliations) });
    } else if (this.room === undefined) {
      // A temporary room whose owner died: as the store kept it, or as its survivors were shown it.
      this.room = new Room(this.jid, this.env.hooks, this, this.keptTemporary ?? { config: {}, affiliations: new Map(state.affiliations) });
    }
    this.keptTemporary = undefined;
    importOccupants(this.room, state);
    // A temporary room's state is kept again, now under this node's lease.
    if (!this.stored) this.room.configChanged = true;
    return this.commit();
  }

  /** Writes what changed, then sends what was held back; on a failed write, `failed` says so instead of those stanzas. */
  private commit(failed?: () => void): void | Promise<void> {
    const write = this.pendingChanges();
    if (write === undefined) return this.release();
    this.pendingWrite = write;
    return write.then(
      () => this.release(),
      (err: unknown) => {
        this.env.log.error({ err, room: this.jid }, 'room write failed');
        this.dropHeldStanzas();
        failed?.();
        // Another node of the cluster took the room: this one stops acting as its owner, and its occupants go
        // on where the cluster places the room (here again, under a new lease, if here). The store's
        // configuration and affiliations stand: the refused change is not in them.
        if (err instanceof FencedOut) this.giveUp(this.room && { ...exportRoom(this.room), config: undefined, affiliations: [] });
        this.release();
      },
    );
  }

  private destroy(mail: Extract<RoomMail, { kind: 'destroy' }>): Promise<void> {
    const room = this.room;
    room?.destroy({ reason: mail.reason });
    this.pendingWrite = this.pendingChanges() ?? Promise.resolve();
    const written = this.pendingWrite.then(
      () => true,
      (err: unknown) => {
        this.env.log.error({ err, room: this.jid }, 'room write failed');
        return false;
      },
    );
    // The occupants hear of it before whoever asked for it.
    return written.then((ok) => {
      this.release();
      mail.done(ok && room !== undefined);
    });
  }

  private dispatch(stanza: Element): void {
    if (this.room !== undefined) {
      if (handleRoomStanza(this.room, stanza)) return;
      if (!this.room.destroyed) {
        this.replyError(stanza, { type: 'cancel', condition: 'service-unavailable' });
        return;
      }
      // The room ended before it could handle the stanza (an expired tombstone): the stanza goes as to no room.
      this.room = undefined;
    }
    // No such room. Like Prosody's mod_muc, refuse a name that strict nodeprep rejects (code points
    // unassigned in Unicode 3.2), so that no room is created under a name another server would refuse.
    if (nodeprep(this.jid.slice(0, this.jid.indexOf('@')), true) === null) {
      this.replyError(stanza, { type: 'modify', condition: 'jid-malformed' }, this.env.serviceDomain);
      return;
    }
    // A join creates it; anything else is answered as Prosody's mod_muc does.
    if (stanza.name === 'presence' && stanza.attrs.type === undefined && stanza.getChild('x', NS_MUC) !== undefined) {
      const room = new Room(this.jid, this.env.hooks, this);
      handleFirstPresence(room, stanza);
      if (room.hasOccupants()) this.room = room;
      return;
    }
    this.replyError(stanza, { type: 'cancel', condition: 'item-not-found' }, this.env.serviceDomain);
  }

  private replyError(stanza: Element, error: StanzaError, by?: string): void {
    if (isAnswerable(stanza)) this.send(errorReply(stanza, error, by), stanza.attrs.from as string);
  }

  /**
   * The write that makes storage match the room, if any: all of a room that
   * just became persistent, what changed in a persistent one, or its removal
   * once it is no longer persistent (or destroyed).
   */
  private pendingChanges(): Promise<void> | undefined {
    const room = this.room;
    if (room === undefined) {
      // Only a room that ended on the stanza just handled leaves its record behind.
      if (!this.stored) return undefined;
      this.stored = false;
      this.env.configStored(this.jid, undefined);
      return this.env.store.delete(this.jid);
    }
    const keep = room.get(PERSISTENT) && !room.destroyed;
    let write: Promise<void> | undefined;
    if (keep !== this.stored || (keep && room.configChanged)) this.env.configStored(this.jid, keep ? room.config : undefined);
    if (keep && !this.stored) {
      write = this.env.store.write(this.jid, { config: room.config, affiliations: room.affiliations, replace: true });
    } else if (keep && (room.configChanged || room.changedAffiliations.size > 0)) {
      const change: RoomWrite<AffiliationEntry> = {
        config: room.configChanged ? room.config : undefined,
        affiliations: [...room.changedAffiliations].map((jid) => [jid, room.affiliations.get(jid)]),
      };
      write = this.env.store.write(this.jid, change);
    } else if (!keep && this.stored) {
      write = this.env.store.delete(this.jid);
    }
    const { keepTemporary } = this.env.store;
    if (!keep && !room.destroyed && keepTemporary !== undefined && (room.configChanged || room.changedAffiliations.size > 0 || this.stored)) {
      // In a cluster a temporary room's state is kept too, for whoever takes the room over should this node die.
      const state = { config: room.config, affiliations: room.affiliations };
      write = (write ?? Promise.resolve()).then(() => keepTemporary.call(this.env.store, this.jid, state));
    }
    this.stored = keep;
    room.configChanged = false;
    room.changedAffiliations.clear();
    return write;
  }

  /** Delivers what the handled stanza produced, then forgets the room if it is gone. */
  private release(): void {
    this.pendingWrite = undefined;
    const held = this.held;
    this.held = [];
    for (const out of held) {
      if ('stanza' in out) this.env.outbox.send(out.stanza, out.to);
      else {
        const event: OccupantEvent = { kind: 'occupant', room: this.jid, nick: out.nick, jid: out.jid, present: out.present };
        this.env.outbox.event(event);
      }
    }
    this.settle();
  }

  /** A room that is destroyed, or temporary and empty, ends; so does its actor once idle. */
  private settle(): void {
    const room = this.room;
    if (room !== undefined && (room.destroyed || (!room.hasOccupants() && !room.get(PERSISTENT)))) this.room = undefined;
    if (this.room === undefined && this.mailbox.size === 0) this.env.retire(this);
  }

  private failed(err: unknown, mail: RoomMail): void {
    this.env.log.error({ err, room: this.jid, stanza: mail.kind === 'stanza' ? mail.stanza.toString() : undefined }, 'room handler failed');
    this.dropHeldStanzas();
    if (mail.kind === 'stanza') this.replyError(mail.stanza, { type: 'wait', condition: 'internal-server-error' });
    this.release();
  }

  /**
   * After a failure the requester gets an error instead of the stanzas the
   * request had produced; the occupancy changes already made still count.
   */
  private dropHeldStanzas(): void {
    this.held = this.held.filter((out) => !('stanza' in out));
  }
}
