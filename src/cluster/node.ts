// One node of a Conclave cluster on NATS (the `cluster:` section). Each room
// is owned by one live node, chosen by rendezvous hashing over the members
// (placement.ts): a client's stanza for a room owned elsewhere goes to the
// owner, whose deliveries come back once per node holding recipients, with
// that node's recipients, to be fanned out there. User-to-user stanzas find
// the recipient's node in the session directory.
//
// What crosses between two nodes in one event-loop turn travels as one NATS
// message on the receiver's subject, in order; NATS keeps the order of one
// connection's messages, so a room sees each node's stanzas in the order its
// clients sent them, and a node sees a room's output in the order the room
// produced it. Session announcements go out before the turn's batches, so a
// room's owner knows a newcomer's node before its join arrives. When a node is
// out, the rooms here hear that its sessions left them, as on a disconnect.
//
// A room that changes owner goes on there with its live state (rehoming.ts:
// handed over by a live former owner, rebuilt from the survivors' sessions
// after a death). Not yet: stanzas between nodes carry no flow control.

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Msg, type NatsConnection } from 'nats';
import { ConfigError, type Settings } from '../config/load.js';
import { clusterTiming } from '../config/schema.js';
import { errorAnswer } from '../xmpp/errors.js';
import { bareJid, jidResource } from '../jid/jid.js';
import type { Logger } from '../log.js';
import type { Delivery } from '../runtime/protocol.js';
import type { StanzaSender } from '../runtime/shard-pool.js';
import { Element, el } from '../xml/element.js';
import { emptyBatch, encodeBatch, type Batch } from './batch.js';
import { SessionDirectory } from './directory.js';
import { Membership, type MembershipChange } from './membership.js';
import { ownerOf } from './placement.js';
import { ServiceBridge } from './service-bridge.js';
import { LocalOccupancy } from './occupancy.js';
import { Rehoming, type Control } from './rehoming.js';
import { serviceDomainOf } from '../muc/shard-keeper.js';
import { transferOf } from '../muc/transfer.js';
import { parseElement } from '../xml/stream-parser.js';

/** The subjects of a cluster: one for each node, and a few everyone hears. */
export const SUBJECTS = {
  hello: 'conclave.hello',
  heartbeat: 'conclave.heartbeat',
  leaving: 'conclave.leaving',
  sessions: 'conclave.sessions',
  status: 'conclave.status',
  node: (node: string) => `conclave.node.${node}`,
  snapshot: (node: string) => `conclave.node.${node}.snapshot`,
  service: (node: string) => `conclave.node.${node}.service`,
};

/** NATS's own default, for a server that has not said its limit. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** What this node serves on its own: the shards, the local sessions and their router. */
export interface LocalNode {
  dispatch(stanza: Element, sender?: StanzaSender): void;
  deliver(deliveries: Delivery[]): void;
  /** A stanza for a user of this node that came through the cluster. */
  fromCluster(stanza: Element): void;
  /** Whether a session of this node has the full JID, or the bare JID's account. */
  serves(jid: string): boolean;
  /** Live rooms with occupants on this node's shards. */
  rooms(): number;
}

/** What a node tells `conclave cluster status`. */
export interface NodeStatus {
  node: string;
  members: readonly string[];
  rooms: number;
  sessions: number;
}

interface Heartbeat {
  node: string;
  /** Tells apart two processes started with the same node name. */
  instance: string;
}

export class ClusterNode {
  readonly self: string;
  private readonly instance = randomUUID();
  private readonly membership: Membership;
  private readonly directory = new SessionDirectory();
  private readonly localSessions = new Set<string>();
  /** For each session of another node, the occupant JIDs it holds in rooms here (by bare room JID). */
  private readonly remoteOccupants = new Map<string, Map<string, string>>();
  private local: LocalNode | undefined;
  private announcements: [jid: string, bound: boolean][] = [];
  private batches = new Map<string, Batch>();
  private flushScheduled = false;
  private heartbeats: NodeJS.Timeout | undefined;
  /** Another process heartbeats under this node's name. */
  private duplicate = false;
  private readonly listeners = new Set<(change: MembershipChange) => void>();
  private service: ServiceBridge | undefined;
  private readonly heartbeatMs: number;
  /** What this node's sessions are in, for the rooms' next owners. */
  private readonly occupancy = new LocalOccupancy();
  private readonly rehoming: Rehoming;
  private readonly serviceDomain: string;

  private constructor(
    private readonly nats: NatsConnection,
    private readonly settings: Settings & { cluster: NonNullable<Settings['cluster']> },
    private readonly log: Logger,
  ) {
    this.self = settings.cluster.node;
    const timing = clusterTiming(settings.cluster);
    this.heartbeatMs = timing.heartbeat_seconds * 1000;
    this.membership = new Membership(this.self, timing.node_timeout_seconds * 1000, (change) => this.membersChanged(change));
    this.serviceDomain = serviceDomainOf(settings);
    this.rehoming = new Rehoming({
      self: this.self,
      serviceDomain: this.serviceDomain,
      occupancy: this.occupancy,
      log: this.log,
      // Long enough for every member to see the change (a sweep) and answer.
      timeoutMs: (timing.node_timeout_seconds + 2 * timing.heartbeat_seconds) * 1000,
      members: () => this.membership.members,
      liveRooms: () => this.service?.liveRooms() ?? Promise.resolve([]),
      maxPayload: () => this.maxPayload,
      send: (node, control) => {
        this.flush();
        this.publish(SUBJECTS.node(node), { control });
      },
      toShards: (stanza, sender) => this.local?.dispatch(stanza, sender),
      relay: (node, stanza) => this.batchFor(node).relayed.push(stanza),
      occupies: (fullJid, occupantJid) => {
        if (!this.localSessions.has(fullJid)) this.noteOccupant(fullJid, occupantJid, true);
      },
    });
  }

  /**
   * Connects to NATS and learns the members: it says hello, the serving
   * nodes answer with a heartbeat, and it listens for one heartbeat interval.
   * It heartbeats itself only once `attach`ed, so no node sends it a room's
   * stanzas before its shards are up.
   */
  static async join(settings: Settings, log: Logger): Promise<ClusterNode> {
    const cluster = settings.cluster;
    if (cluster === null) throw new Error('no cluster section');
    let nats: NatsConnection;
    try {
      nats = await connect({ servers: cluster.nats.servers, name: `conclave-${cluster.node}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    } catch (err) {
      const file = settings.sources[settings.sources.length - 1];
      throw new ConfigError(`cannot reach NATS at ${cluster.nats.servers.join(', ')} (cluster.nats.servers in ${file}): ${(err as Error).message}`);
    }
    const node = new ClusterNode(nats, { ...settings, cluster }, log.child({ node: cluster.node }));
    node.listen();
    await node.nats.flush();
    await sleep(node.heartbeatMs);
    if (node.duplicate) {
      await node.nats.close();
      const file = settings.sources[settings.sources.length - 1];
      throw new ConfigError(`cluster.node "${cluster.node}" (in ${file}) is already a live node of the cluster: give each node its own name`);
    }
    return node;
  }

  get members(): readonly string[] {
    return this.membership.members;
  }

  /** Calls `listener` on every membership change (tests wait on it). */
  onChange(listener: (change: MembershipChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Connects this node's shards and sessions; until then nothing reaches them from the cluster. */
  attach(local: LocalNode): void {
    this.local = local;
    this.service = new ServiceBridge(this.settings, this.nats, SUBJECTS.service, this.self, () => this.members, this.log);
    // This node joins the view the others have: the rooms that are now its own come from their former owners.
    this.rehoming.changed(this.members.filter((node) => node !== this.self), this.members);
    this.heartbeat();
    this.heartbeats = setInterval(() => {
      this.heartbeat();
      this.membership.sweep(Date.now());
    }, this.heartbeatMs);
  }

  /** The node that owns the room a stanza is for; service-wide stanzas stay here. */
  ownerOf(roomJid: string): string {
    const room = bareJid(roomJid);
    if (!room.includes('@')) return this.self;
    return ownerOf(room, this.membership.members) ?? this.self;
  }

  /** A stanza for the MUC service from a client of this node. */
  readonly dispatch = (stanza: Element, sender?: StanzaSender): void => {
    this.occupancy.sent(stanza);
    const owner = this.ownerOf(stanza.attrs.to ?? '');
    if (owner === this.self) this.rehoming.admit(stanza, sender, false);
    else this.batchFor(owner).rooms.push(stanza);
  };

  /** What this node's shards produced: recipients here are served here, the others once per node. */
  readonly deliver = (deliveries: Delivery[]): void => {
    const here: Delivery[] = [];
    for (const delivery of deliveries) {
      if (delivery.to.length === 1 && delivery.to[0] === this.serviceDomain && this.exported(delivery)) continue;
      if (delivery.to.every((jid) => this.otherNodesServing(jid).length === 0)) {
        here.push(delivery);
        continue;
      }
      const local: string[] = [];
      const remote = new Map<string, string[]>();
      for (const jid of delivery.to) {
        const nodes = this.otherNodesServing(jid);
        // A bare JID may have sessions here as well as elsewhere.
        if (nodes.length === 0 || jidResource(jid) === '') local.push(jid);
        for (const node of nodes) {
          const list = remote.get(node);
          if (list) list.push(jid);
          else remote.set(node, [jid]);
        }
      }
      if (local.length > 0) here.push({ head: delivery.head, tail: delivery.tail, to: local });
      for (const [node, to] of remote) this.batchFor(node).deliveries.push({ head: delivery.head, tail: delivery.tail, to });
    }
    if (here.length > 0) this.localDelivery(here);
  };

  /** Whether a room's stanza to the service itself is its state, exported for its new owner (taken here). */
  private exported(delivery: Delivery): boolean {
    const transfer = transferOf(parseElement(delivery.head + ` to='${this.serviceDomain}'` + delivery.tail), this.serviceDomain);
    if (transfer?.kind !== 'exported') return false;
    this.rehoming.exported(transfer.room, transfer.state);
    return true;
  }

  private localDelivery(deliveries: Delivery[]): void {
    this.occupancy.delivered(deliveries);
    this.local?.deliver(deliveries);
  }

  /**
   * The other nodes a room's stanza for `jid` goes to: those the directory
   * names; when no node, this one included, is known to serve it, every other
   * node, for the session may have been bound there a moment ago and its
   * announcement not be here yet (the room can learn a JID from a third
   * node's stanza, an invitation say, sooner). Whoever has no such session
   * drops it.
   */
  private otherNodesServing(jid: string): readonly string[] {
    const full = jidResource(jid) !== '';
    if (full && this.local?.serves(jid)) return [];
    const known = this.directory.nodesServing(jid);
    if (known.length > 0 || (!full && this.local?.serves(jid))) return known;
    return this.membership.members.filter((node) => node !== this.self);
  }

  /**
   * Sends a stanza for a user to the node(s) holding the user's sessions:
   * the one serving a full JID; for a bare JID, every node for a presence,
   * one for anything else. False when no other node has a session.
   */
  forward(stanza: Element, jid: string): boolean {
    const nodes = this.directory.nodesServing(jid);
    for (const node of stanza.name === 'presence' ? nodes : nodes.slice(0, 1)) this.batchFor(node).stanzas.push(stanza);
    return nodes.length > 0;
  }

  /** A client session bound on this node. */
  sessionBound(fullJid: string): void {
    this.localSessions.add(fullJid);
    this.announce(fullJid, true);
  }

  sessionEnded(fullJid: string): void {
    this.occupancy.sessionEnded(fullJid);
    if (this.localSessions.delete(fullJid)) this.announce(fullJid, false);
  }

  status(): NodeStatus {
    return { node: this.self, members: this.members, rooms: this.local?.rooms() ?? 0, sessions: this.localSessions.size };
  }

  /** Says goodbye (the others count this node out at once) and closes the connection once what is queued has gone. */
  async close(): Promise<void> {
    clearInterval(this.heartbeats);
    this.rehoming.close();
    this.service?.close();
    this.flush();
    this.publish(SUBJECTS.leaving, { node: this.self, instance: this.instance } satisfies Heartbeat);
    await this.nats.drain().catch((err: unknown) => this.log.warn({ err }, 'NATS drain failed'));
  }

  private listen(): void {
    const { nats, self } = this;
    this.subscribe(SUBJECTS.heartbeat, (beat: Heartbeat) => {
      if (beat.node === self) {
        if (beat.instance !== this.instance && !this.duplicate) {
          this.duplicate = true;
          this.log.error({ node: self }, 'another process heartbeats as this node: give each node its own cluster.node');
        }
        return;
      }
      // A newcomer hears from everyone at once rather than a heartbeat later.
      if (this.membership.heard(beat.node, Date.now()) && this.local) this.heartbeat();
    });
    this.subscribe(SUBJECTS.hello, (hello: Heartbeat) => {
      if (hello.node !== self && this.local) this.heartbeat();
    });
    this.subscribe(SUBJECTS.leaving, (beat: Heartbeat) => {
      if (beat.node !== self) this.membership.leaving(beat.node);
    });
    this.subscribe(SUBJECTS.sessions, (message: { node: string; changes: [string, boolean][] }) => {
      // Announcements from a node not (or no longer) counted in would outlive it in the directory.
      if (message.node === self || !this.membership.members.includes(message.node)) return;
      for (const [jid, bound] of message.changes) {
        if (bound) this.directory.bound(message.node, jid);
        else {
          this.directory.ended(message.node, jid);
          this.remoteOccupants.delete(jid);
        }
      }
    });
    this.subscribe(SUBJECTS.node(self), (message: Batch | { control: Control }) => {
      if ('control' in message) this.rehoming.control(message.control);
      else this.received(message);
    });
    this.subscribe(SUBJECTS.snapshot(self), (_: unknown, msg) => msg.respond(JSON.stringify([...this.localSessions])));
    this.subscribe(SUBJECTS.status, (_: unknown, msg) => msg.respond(JSON.stringify(this.status())));
    void (async () => {
      for await (const status of nats.status()) {
        if (status.type === 'disconnect' || status.type === 'reconnect') this.log.warn({ nats: status.data }, `NATS ${status.type}`);
      }
    })();
    this.publish(SUBJECTS.hello, { node: self, instance: this.instance } satisfies Heartbeat);
  }

  /** Subscribes with a JSON handler; what another node sends wrong is logged, never thrown. */
  private subscribe<T>(subject: string, handle: (body: T, msg: Msg) => void): void {
    this.nats.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return this.log.error({ err, subject }, 'NATS subscription failed');
        try {
          handle(msg.data.length === 0 ? (undefined as T) : (JSON.parse(new TextDecoder().decode(msg.data)) as T), msg);
        } catch (error) {
          this.log.error({ err: error, subject }, 'bad cluster message');
        }
      },
    });
  }

  private heartbeat(): void {
    this.publish(SUBJECTS.heartbeat, { node: this.self, instance: this.instance } satisfies Heartbeat);
  }

  private membersChanged(change: MembershipChange): void {
    // Before the node is attached it is learning the members, not changing them.
    if (this.local) this.rehoming.changed([...change.members.filter((node) => !change.joined.includes(node)), ...change.left].sort(), change.members);
    for (const node of change.left) {
      for (const jid of this.directory.drop(node)) this.sessionLost(jid);
      this.batches.delete(node);
      this.log.warn({ left: node, members: change.members }, 'cluster node out: its rooms re-home');
    }
    for (const node of change.joined) {
      this.log.info({ joined: node, members: change.members }, 'cluster node in');
      this.nats
        .request(SUBJECTS.snapshot(node), undefined, { timeout: 5000 })
        .then((reply) => {
          if (this.membership.members.includes(node)) this.directory.replace(node, JSON.parse(new TextDecoder().decode(reply.data)) as string[]);
        })
        .catch((err: unknown) => this.log.warn({ err, node }, 'no session snapshot from a cluster node'));
    }
    for (const listener of this.listeners) listener(change);
  }

  private received(batch: Batch): void {
    const local = this.local;
    if (!local) return;
    for (const plain of batch.rooms) {
      const stanza = Element.revive(plain);
      // The sender's view of the members was not ours: pass it on once, to whom we see as the owner.
      const owner = this.ownerOf(stanza.attrs.to ?? '');
      // A node that saw a membership change before this one sends a room's stanzas to whom it sees as the owner.
      if (owner === this.self || this.rehoming.expects(bareJid(stanza.attrs.to ?? ''))) this.toLocalRoom(stanza, false);
      else this.batchFor(owner).relayed.push(stanza);
    }
    for (const plain of batch.relayed) this.toLocalRoom(Element.revive(plain), true);
    if (batch.deliveries.length > 0) this.localDelivery(batch.deliveries);
    for (const plain of batch.stanzas) local.fromCluster(Element.revive(plain));
  }

  /** A room stanza from another node's session, noting the rooms that session is in. */
  private toLocalRoom(stanza: Element, relayed: boolean): void {
    const { from, to, type } = stanza.attrs;
    if (stanza.name === 'presence' && from !== undefined && to !== undefined && (type === undefined || type === 'unavailable' || type === 'error')) {
      this.noteOccupant(from, to, type === undefined);
    }
    this.rehoming.admit(stanza, undefined, relayed);
  }

  /** Whether another node's session is in a room here (as `occupantJid`), for when that node is out. */
  private noteOccupant(fullJid: string, occupantJid: string, present: boolean): void {
    const room = bareJid(occupantJid);
    let rooms = this.remoteOccupants.get(fullJid);
    if (present) {
      if (!rooms) this.remoteOccupants.set(fullJid, (rooms = new Map()));
      rooms.set(room, occupantJid);
    } else {
      rooms?.delete(room);
      if (rooms?.size === 0) this.remoteOccupants.delete(fullJid);
    }
  }

  /** A session of a node that is out: it leaves the rooms here as on a disconnect. */
  private sessionLost(fullJid: string): void {
    const rooms = this.remoteOccupants.get(fullJid);
    this.remoteOccupants.delete(fullJid);
    for (const occupant of rooms?.values() ?? []) {
      const status = el('status', {}, 'Disconnected: its cluster node is out');
      this.dispatch(el('presence', { type: 'unavailable', from: fullJid, to: occupant }, status));
    }
  }

  private announce(fullJid: string, bound: boolean): void {
    this.announcements.push([fullJid, bound]);
    this.scheduleFlush();
  }

  private batchFor(node: string): Batch {
    let batch = this.batches.get(node);
    if (!batch) this.batches.set(node, (batch = emptyBatch()));
    this.scheduleFlush();
    return batch;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends the turn's announcements, then one batch per node. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.announcements.length > 0) {
      this.publish(SUBJECTS.sessions, { node: this.self, changes: this.announcements });
      this.announcements = [];
    }
    const batches = this.batches;
    this.batches = new Map();
    const limit = this.maxPayload;
    for (const [node, batch] of batches) {
      for (const { payload, stanzas } of encodeBatch(batch, limit)) {
        if (!this.publish(SUBJECTS.node(node), payload)) this.bounce(stanzas);
      }
    }
  }

  /** The largest message the NATS server takes. */
  private get maxPayload(): number {
    return this.nats.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  /** False when NATS refused it (the connection is closed, or it is over the payload limit). */
  private publish(subject: string, body: unknown): boolean {
    try {
      this.nats.publish(subject, typeof body === 'string' ? body : JSON.stringify(body));
      return true;
    } catch (err) {
      this.log.error({ err, subject }, 'cannot publish to NATS');
      return false;
    }
  }

  /** Stanzas that could not leave this node: their senders here hear so. */
  private bounce(stanzas: Element[]): void {
    for (const stanza of stanzas) {
      const error = errorAnswer(stanza, 'service-unavailable', 'The cluster is unreachable');
      if (error) this.local?.fromCluster(error);
    }
  }
}
