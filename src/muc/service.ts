// The MUC service of one shard: the application each shard worker runs. It
// routes every stanza for a room to that room's actor (created on first use;
// a persistent room is loaded from the store then, and only then, so a start does
// not load the stored rooms: it reads only the configurations of those it
// owns, for its list of public rooms), answers the service's own disco
// queries and ad-hoc commands (asking the other shards through the ShardBus
// when the answer covers every room), and refuses a stanza when its room's
// mailbox is full.

import { formatJid, parseJid, prepJid, bareJid } from '../jid/jid.js';
import { createLogger, type Logger } from '../log.js';
import type { ShardApplication, ShardApplicationFactory, ShardContext } from '../runtime/protocol.js';
import type { StanzaErrorCondition } from '../xmpp/errors.js';
import type { RoomStores } from '../store/interface.js';
import { openRoomStores } from '../store/open.js';
import { el, type Element } from '../xml/element.js';
import { RoomActor, type RoomEnvironment } from './actor.js';
import { createRoomHooks } from './features/index.js';
import { PUBLIC } from './features/public.js';
import { NAME } from './features/name.js';
import { commandInfo, commandItems, NS_COMMANDS, runCommand, type CommandHost } from './service-commands.js';
import { busName, ShardBus, type LiveRoom } from './shard-bus.js';
import { PublicRoomIndex } from './public-room-index.js';
import { RoomBacklog } from './room-backlog.js';
import { backpressure } from '../ops/counters.js';
import { shardOf } from '../runtime/shard-of.js';
import { HeapBudget } from '../runtime/heap-budget.js';
import { roomLimits } from './limits.js';
import { pageOf, readPageRequest, type PageRequest } from './rsm.js';
import { serviceDomainOf, unhandledStanzaAnswer } from './shard-keeper.js';
import { NS_RSM } from '../xmpp/namespaces.js';
import { errorReply, isAnswerable, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC, reply, type StanzaError } from './stanzas.js';
import type { AffiliationEntry } from './roles.js';
import { exportAnswer, transferOf } from './transfer.js';

/** The shard worker's entry (`MucShards.workerModule`): the MUC service for the shard's rooms. */
const createMucShard: ShardApplicationFactory = async (context) => {
  const { settings } = context;
  const log = createLogger(settings.log_level, { shard: context.shardIndex, component: 'muc' });
  const stores = await openRoomStores<AffiliationEntry>(settings, log);
  const service = new MucService(context, stores, log);
  await service.indexStoredRooms();
  return service;
};
export default createMucShard;

class MucService implements ShardApplication, CommandHost {
  private readonly actors = new Map<string, RoomActor>();
  private readonly serviceDomain: string;
  private readonly env: RoomEnvironment;
  private readonly bus: ShardBus;
  /** The public stored rooms this shard owns: disco#items reads no stored configuration. */
  private readonly storedPublicRooms = new PublicRoomIndex();
  private readonly heap: HeapBudget;
  private readonly backlog = new RoomBacklog();

  constructor(
    private readonly context: ShardContext,
    private readonly stores: RoomStores<AffiliationEntry>,
    log: Logger,
  ) {
    const { settings } = context;
    this.serviceDomain = serviceDomainOf(settings);
    this.heap = new HeapBudget(settings.muc.heap_budget_mb * 1024 * 1024);
    const admins = new Set<string>();
    for (const admin of settings.muc.admins) admins.add(bareJid(prepJid(admin) ?? admin));
    this.env = {
      serviceDomain: this.serviceDomain,
      admins,
      hooks: createRoomHooks(),
      outbox: {
        send: (stanza, to) => context.outbox.send(stanza, to),
        event: (event) => context.outbox.event(event),
        handled: (receipt) => {
          context.outbox.handled(receipt);
          this.backlog.handled(receipt);
        },
      },
      store: stores.rooms,
      archive: stores.archive,
      // Only the shard owning a room (by hash, as the pool routes) writes it, so
      // each shard's index stays exact with what it writes itself.
      configStored: (room, config) => {
        if (this.owns(room)) this.storedPublicRooms.record(room, config);
      },
      log,
      mailboxLimit: settings.muc.mailbox_limit,
      turnBudget: settings.muc.turn_budget,
      limits: roomLimits(settings.muc, {
        shardCount: context.shardCount,
        memoryShort: () => this.heap.exceeded,
        // Actors outlive their room only until they are idle: their count is the live rooms', near enough.
        liveRooms: () => this.actors.size,
        roomsOwnedBy: (user) => this.roomsOwnedBy(user),
      }),
      settings: settings.muc,
      retire: (actor) => {
        if (this.actors.get(actor.jid) !== actor) return;
        this.actors.delete(actor.jid);
        stores.rooms.release(actor.jid);
        stores.archive.release(actor.jid);
      },
    };
    // The other shards answer, and in a cluster the other nodes, through one more member.
    const answerers = context.shardCount - 1 + (settings.cluster === null ? 0 : 1);
    this.bus = new ShardBus(busName(settings.data_dir, this.domain), context.shardIndex, answerers, {
      rooms: () => this.liveRooms(),
      publicRooms: () => [...this.publicRoomsHere()],
      destroy: (rooms, reason) => this.destroyHere(rooms, reason),
      caughtUp: () => {
        // The stanzas that the pool sent before this question may still be in the port.
        context.catchUp?.();
        return this.backlog.drained();
      },
    });
  }

  /** Reads the configurations of the stored rooms this shard owns, for its list of public rooms. */
  async indexStoredRooms(): Promise<void> {
    for (const [room, config] of await this.stores.rooms.list((room) => this.owns(room))) this.storedPublicRooms.record(room, config);
  }

  get domain(): string {
    return this.serviceDomain;
  }

  receive(stanza: Element, receipt: number): void {
    const to = parseJid(stanza.attrs.to ?? '');
    if (stanza.attrs.from === undefined) {
      // Nobody to answer.
    } else if (to === null) {
      this.refuse(stanza, { type: 'modify', condition: 'jid-malformed' });
    } else if (to.local === '') {
      const answered = this.serviceStanza(stanza);
      if (answered !== undefined) {
        void answered.then(() => this.context.outbox.handled(receipt));
        return;
      }
    } else {
      stanza.setAttr('to', formatJid(to));
      const roomJid = to.local + '@' + to.domain;
      if (!this.actors.has(roomJid) && transferOf(stanza, this.serviceDomain)?.kind === 'export') {
        // No room here to hand over: nothing to load for it either.
        this.send(exportAnswer(roomJid, this.serviceDomain, undefined), this.serviceDomain);
        this.context.outbox.handled(receipt);
        return;
      }
      // The room hands the receipt back once it has handled the stanza.
      this.backlog.posted(receipt);
      if (this.actorFor(roomJid).post({ kind: 'stanza', stanza, receipt })) return;
      this.backlog.handled(receipt);
      backpressure('room_mailbox');
      this.refuse(stanza, { type: 'wait', condition: 'resource-constraint' }, roomJid);
    }
    this.context.outbox.handled(receipt);
  }

  errorAnswer(stanza: Element, condition: StanzaErrorCondition): Element | undefined {
    return unhandledStanzaAnswer(stanza, condition, this.serviceDomain);
  }

  inspect(roomJid: string): Record<string, unknown> | undefined {
    const jid = prepJid(roomJid);
    const actor = jid === null ? undefined : this.actors.get(jid);
    const room = actor?.room;
    if (actor === undefined || room === undefined) return undefined;
    return {
      jid: room.jid,
      shard: this.context.shardIndex,
      queued: actor.queued,
      config: room.config,
      occupants: [...room.occupants.values()].map((occupant) => ({
        nick: occupant.name,
        jid: occupant.bareJid,
        role: occupant.role,
        affiliation: room.affiliationOf(occupant.bareJid),
        sessions: occupant.liveSessions(),
      })),
      affiliations: Object.fromEntries(room.affiliations),
    };
  }

  forgetUser(user: string): void {
    for (const actor of this.actors.values()) if (actor.room !== undefined) actor.post({ kind: 'forget-user', user });
  }

  stall(roomJid: string, ms: number): void {
    const jid = prepJid(roomJid);
    if (jid !== null) this.actorFor(jid).post({ kind: 'stall', ms });
  }

  async close(): Promise<void> {
    this.bus.close();
    this.heap.stop();
    await Promise.allSettled([...this.actors.values()].map((actor) => actor.pendingWrite));
    await this.stores.close();
  }

  private actorFor(roomJid: string): RoomActor {
    let actor = this.actors.get(roomJid);
    if (actor === undefined) {
      actor = new RoomActor(roomJid, this.env);
      this.actors.set(roomJid, actor);
    }
    return actor;
  }

  /**
   * Stanzas to the service itself: disco#info, disco#items and ad-hoc commands;
   * nothing else is served here. A promise when the answer is still to come.
   */
  private serviceStanza(stanza: Element): Promise<void> | undefined {
    const { type } = stanza.attrs;
    const from = stanza.attrs.from as string;
    const query = stanza.elements()[0];
    const node: string | undefined = query?.attrs.node;
    if (stanza.name !== 'iq') {
      this.refuse(stanza, { type: 'cancel', condition: 'item-not-found' }, this.domain);
    } else if (type === 'get' && query?.is('query', NS_DISCO_INFO) && node === undefined) {
      const result = reply(stanza);
      result
        .c('query', { xmlns: NS_DISCO_INFO })
        .append(
          el('identity', { category: 'conference', type: 'text', name: 'Chatrooms' }),
          el('feature', { var: NS_DISCO_INFO }),
          el('feature', { var: NS_DISCO_ITEMS }),
          el('feature', { var: NS_MUC }),
          el('feature', { var: NS_COMMANDS }),
          el('feature', { var: NS_RSM }),
        );
      this.send(result, from);
    } else if (type === 'get' && query?.is('query', NS_DISCO_INFO) && commandInfo(this, stanza, node ?? '')) {
      // commandInfo answered it.
    } else if (type === 'get' && query?.is('query', NS_DISCO_ITEMS) && node === NS_COMMANDS) {
      const result = reply(stanza);
      commandItems(this, from, result.c('query', { xmlns: NS_DISCO_ITEMS, node }));
      this.send(result, from);
    } else if (type === 'get' && query?.is('query', NS_DISCO_ITEMS) && node === undefined) {
      const pageRequest = readPageRequest(query);
      if (pageRequest !== undefined && 'condition' in pageRequest) {
        this.refuse(stanza, pageRequest);
        return undefined;
      }
      return this.publicRooms().then((rooms) => this.sendRoomItems(stanza, rooms, pageRequest));
    } else if (type === 'set' && query?.is('command', NS_COMMANDS)) {
      return runCommand(this, stanza, query);
    } else {
      this.refuse(stanza, { type: 'cancel', condition: 'service-unavailable' });
    }
    return undefined;
  }

  /**
   * The public rooms as disco#items, all of them or the page a `<set/>` asks
   * for. Without a `<set/>` there is no cap: Prosody lists every public room.
   */
  private sendRoomItems(stanza: Element, rooms: Map<string, string | undefined>, pageRequest?: PageRequest): void {
    const jids = [...rooms.keys()];
    const page = pageRequest === undefined ? undefined : pageOf(jids, pageRequest);
    if (page !== undefined && 'condition' in page) {
      this.refuse(stanza, page);
      return;
    }
    const result = reply(stanza);
    const items = result.c('query', { xmlns: NS_DISCO_ITEMS });
    for (const jid of jids.slice(page?.start, page?.end)) items.c('item', { jid, name: rooms.get(jid) });
    if (page !== undefined) items.append(page.set);
    this.send(result, stanza.attrs.from as string);
  }

  isAdmin(jid: string): boolean {
    return this.env.admins.has(bareJid(jid));
  }

  send(stanza: Element, to: string): void {
    this.context.outbox.send(stanza, to);
  }

  /** Public rooms of every shard, sorted by JID. */
  private async publicRooms(): Promise<Map<string, string | undefined>> {
    const [, elsewhere] = await Promise.all([this.backlog.drained(), this.bus.otherPublicRooms()]);
    const rooms = [...this.publicRoomsHere(), ...elsewhere];
    return new Map(rooms.sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  /** The public rooms this shard owns: the stored ones, where a live room's own settings win. */
  private publicRoomsHere(): Map<string, string | undefined> {
    const rooms = this.storedPublicRooms.copy();
    for (const room of this.liveRooms()) {
      if (room.public) rooms.set(room.jid, room.name);
      else rooms.delete(room.jid);
    }
    return rooms;
  }

  private owns(room: string): boolean {
    return shardOf(room, this.context.shardCount) === this.context.shardIndex;
  }

  async allRooms(): Promise<string[]> {
    const rooms = new Set<string>();
    for (const jid of await this.stores.rooms.jids()) rooms.add(jid);
    for (const room of [...this.liveRooms(), ...(await this.bus.otherRooms())]) rooms.add(room.jid);
    return [...rooms];
  }

  /**
   * Destroys rooms wherever they live: each shard destroys those it holds,
   * and loads to destroy the stored ones it owns (the owner alone writes a
   * room, which keeps its index of public rooms exact).
   */
  async destroyRooms(rooms: string[]): Promise<string[]> {
    const [here, elsewhere] = await Promise.all([this.destroyHere(rooms), this.bus.destroyElsewhere(rooms)]);
    const destroyed = new Set([...here, ...elsewhere]);
    return rooms.filter((jid) => destroyed.has(jid));
  }

  /** Destroys the rooms of this list that are live on this shard, or stored and owned by it. */
  private async destroyHere(rooms: string[], reason?: string): Promise<string[]> {
    const outcomes = rooms.map(async (jid) => {
      const stored = this.owns(jid) && (await this.stores.rooms.has(jid));
      // A stored room's actor may still be loading it: it is asked all the same.
      const actor = stored ? this.actorFor(jid) : this.actors.get(jid);
      if (actor === undefined || (actor.room === undefined && !stored)) return undefined;
      return new Promise<string | undefined>((resolve) => {
        const posted = actor.post({ kind: 'destroy', reason, done: (destroyed) => resolve(destroyed ? jid : undefined) });
        if (!posted) resolve(undefined);
      });
    });
    return (await Promise.all(outcomes)).filter((jid): jid is string => jid !== undefined);
  }

  private roomsOwnedBy(user: string): number {
    let owned = 0;
    for (const actor of this.actors.values()) if (actor.room?.affiliations.get(user)?.affiliation === 'owner') owned++;
    return owned;
  }

  /** The rooms live on this shard. */
  private liveRooms(): LiveRoom[] {
    const rooms: LiveRoom[] = [];
    for (const actor of this.actors.values()) {
      const room = actor.room;
      if (room !== undefined) rooms.push({ jid: room.jid, name: room.get(NAME), public: room.get(PUBLIC) });
    }
    return rooms;
  }

  private refuse(stanza: Element, error: StanzaError, by?: string): void {
    if (isAnswerable(stanza)) this.send(errorReply(stanza, error, by), stanza.attrs.from as string);
  }
}
