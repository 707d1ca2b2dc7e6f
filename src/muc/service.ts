// The MUC service of one shard: the application each shard worker runs. It
// routes every stanza for a room to that room's actor (created on first use;
// a persistent room is loaded from LMDB then), answers the service's own
// disco queries, and refuses a stanza when its room's mailbox is full.

import { formatJid, parseJid, prepJid, bareJid } from '../jid/jid.js';
import { createLogger } from '../log.js';
import type { ShardApplication, ShardApplicationFactory, ShardContext } from '../runtime/protocol.js';
import { openDatabase, type Database } from '../store/database.js';
import { RoomStore } from '../store/rooms.js';
import { el, type Element } from '../xml/element.js';
import { RoomActor, type RoomEnvironment } from './actor.js';
import { createRoomHooks } from './features/index.js';
import { PUBLIC } from './features/public.js';
import { NAME } from './features/name.js';
import { readSetting, PERSISTENT } from './settings.js';
import { errorReply, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC, reply, type StanzaError } from './stanzas.js';

export const createMucShard: ShardApplicationFactory = async (context) => new MucService(context);

class MucService implements ShardApplication {
  private readonly actors = new Map<string, RoomActor>();
  private readonly domain: string;
  private readonly database: Database;
  private readonly store: RoomStore;
  private readonly env: RoomEnvironment;

  constructor(private readonly context: ShardContext) {
    const { settings } = context;
    this.domain = prepJid(settings.muc.domain) ?? settings.muc.domain;
    this.database = openDatabase(settings.data_dir);
    this.store = new RoomStore(this.database);
    const admins = new Set<string>();
    for (const admin of settings.muc.admins) admins.add(bareJid(prepJid(admin) ?? admin));
    this.env = {
      serviceDomain: this.domain,
      admins,
      hooks: createRoomHooks(),
      outbox: context.outbox,
      store: this.store,
      log: createLogger(settings.log_level, { shard: context.shardIndex, component: 'muc' }),
      mailboxLimit: settings.muc.mailbox_limit,
      retire: (actor) => {
        if (this.actors.get(actor.jid) === actor) this.actors.delete(actor.jid);
      },
    };
  }

  receive(stanza: Element): void {
    const to = parseJid(stanza.attrs.to ?? '');
    if (stanza.attrs.from === undefined) return;
    if (to === null) {
      this.refuse(stanza, { type: 'modify', condition: 'jid-malformed' });
      return;
    }
    if (to.local === '') {
      this.serviceStanza(stanza);
      return;
    }
    stanza.setAttr('to', formatJid(to));
    const roomJid = to.local + '@' + to.domain;
    if (!this.actorFor(roomJid).post({ kind: 'stanza', stanza })) {
      this.refuse(stanza, { type: 'wait', condition: 'resource-constraint' }, roomJid);
    }
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

  stall(roomJid: string, ms: number): void {
    const jid = prepJid(roomJid);
    if (jid !== null) this.actorFor(jid).post({ kind: 'stall', ms });
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.actors.values()].map((actor) => actor.pendingWrite));
    await this.database.close();
  }

  private actorFor(roomJid: string): RoomActor {
    let actor = this.actors.get(roomJid);
    if (actor === undefined) {
      actor = new RoomActor(roomJid, this.env);
      this.actors.set(roomJid, actor);
    }
    return actor;
  }

  /** Stanzas to the service itself: disco#info and disco#items; nothing else is served here. */
  private serviceStanza(stanza: Element): void {
    const { type } = stanza.attrs;
    const query = stanza.elements()[0];
    if (stanza.name !== 'iq') {
      this.refuse(stanza, { type: 'cancel', condition: 'item-not-found' }, this.domain);
    } else if (type === 'get' && query?.is('query', NS_DISCO_INFO) && query.attrs.node === undefined) {
      const result = reply(stanza);
      result
        .c('query', { xmlns: NS_DISCO_INFO })
        .append(
          el('identity', { category: 'conference', type: 'text', name: 'Chatrooms' }),
          el('feature', { var: NS_DISCO_INFO }),
          el('feature', { var: NS_DISCO_ITEMS }),
          el('feature', { var: NS_MUC }),
        );
      this.context.outbox.send(result, stanza.attrs.from as string);
    } else if (type === 'get' && query?.is('query', NS_DISCO_ITEMS) && query.attrs.node === undefined) {
      const result = reply(stanza);
      const items = result.c('query', { xmlns: NS_DISCO_ITEMS });
      for (const [jid, name] of this.publicRooms()) items.c('item', { jid, name });
      this.context.outbox.send(result, stanza.attrs.from as string);
    } else {
      this.refuse(stanza, { type: 'cancel', condition: 'service-unavailable' });
    }
  }

  /**
   * Public rooms: the persistent ones (from LMDB, whatever their shard) and
   * the temporary ones live on this shard; other shards' temporary rooms are
   * not known here.
   */
  private publicRooms(): Map<string, string | undefined> {
    const rooms = new Map<string, string | undefined>();
    for (const [jid, config] of this.store.list()) {
      if (readSetting(config, PUBLIC)) rooms.set(jid, readSetting(config, NAME));
    }
    for (const actor of this.actors.values()) {
      const room = actor.room;
      if (room !== undefined && !room.get(PERSISTENT) && room.get(PUBLIC)) rooms.set(room.jid, room.get(NAME));
    }
    return rooms;
  }

  private refuse(stanza: Element, error: StanzaError, by?: string): void {
    const type = stanza.attrs.type;
    if (type === 'error' || (stanza.name === 'iq' && type === 'result')) return;
    this.context.outbox.send(errorReply(stanza, error, by), stanza.attrs.from as string);
  }
}
