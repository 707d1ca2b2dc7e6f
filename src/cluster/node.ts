// One node of a Conclave cluster on NATS (the `cluster:` section). Each room
// is owned by one live node, chosen by rendezvous hashing over the members
// (placement.ts): a client's stanza for a room owned elsewhere goes to the
// owner, whose deliveries come back once per node holding recipients, with
// that node's recipients, to be fanned out there. User-to-user stanzas find
// the recipient's node in the session directory.
//
// What crosses between two nodes in one flush (an event-loop turn, or a
// short hold under steady traffic: batch.ts) travels as one NATS message on
// the receiver's subject, in order, with the sender's acknowledgement of what
// it last received from the receiver; NATS keeps the order of one
// connection's messages, so a room sees each node's stanzas in the order its
// clients sent them, and a node sees a room's output in the order the room
// produced it. Session announcements go out before the turn's batches, so a
// room's owner knows a newcomer's node before its join arrives. When a node is
// out, the rooms here hear that its sessions left them, as on a disconnect.
//
// When NATS is out of reach (connection.ts) the node keeps its sessions and
// acts as no room's owner: every room stanza, and every stanza for a session
// of another node, is answered with `wait` (resource-constraint), what its
// rooms would send elsewhere is dropped and counted. Back within
// node_timeout_seconds, nothing else happened; back later, the others have
// counted it out and placed its rooms elsewhere, so it drops its own (their
// occupants here hear 332, as on a restart) before it heartbeats again. Either
// way it then says hello and every node re-reads the others' sessions. What is
// sent to one node and not acknowledged is capped (flow.ts).
//
// A room that changes owner goes on there with its live state (rehoming.ts:
// handed over by a live former owner, rebuilt from the survivors' sessions
// after a death). A node that stops cleanly first hands its rooms over
// (`handOver`): it leaves the others' view but stays in their session
// directory, heartbeating as one handing over, until it says it has stopped.

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createInbox, type Msg, type NatsConnection } from 'nats';
import { ConfigError, type Settings } from '../config/load.js';
import { clusterTiming } from '../config/schema.js';
import { errorAnswer, isAnswerable } from '../xmpp/errors.js';
import { bareJid, jidResource } from '../jid/jid.js';
import type { Logger } from '../log.js';
import type { Delivery } from '../runtime/protocol.js';
import type { StanzaSender } from '../runtime/shard-pool.js';
import { Element, el } from '../xml/element.js';
import { emptyBatch, encodeBatch, FlushPolicy, FlushTimer, framed, frameBytes, type Batch, type EncodedStanza, type Frame } from './batch.js';
import { ClusterConnection, clusterSubjects, type ClusterSubjects } from './connection.js';
import { SessionDirectory } from './directory.js';
import { PeerWindows } from './flow.js';
import { Membership, type MembershipChange } from './membership.js';
import { ownerOf } from './placement.js';
import { ServiceBridge } from './service-bridge.js';
import { LocalOccupancy } from './occupancy.js';
import { Rehoming, type Control } from './rehoming.js';
import { serviceDomainOf } from '../muc/shard-keeper.js';
import { transferOf } from '../muc/transfer.js';
import { parseElement } from '../xml/stream-parser.js';

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
  /** Ends every room on this node's shards, their occupants here told so (332); resolves once the shards serve again. */
  restartRooms(): Promise<void>;
}

/** Why a stanza for another node was answered with `wait` instead. */
export type Refusal = 'unreachable' | 'peer_full';

/** What /ready and /metrics show of the node's link to the cluster. */
export interface ClusterHealth {
  connected: boolean;
  members: number;
  disconnects: number;
  /** Stanzas answered with `wait`, by why. */
  refused: Map<Refusal, number>;
  /** Room deliveries to other nodes' sessions that could not leave this node, by why. */
  dropped: Map<Refusal, number>;
  /** Rooms this node took over from another, by how. */
  taken: Map<Taken, number>;
  /** Room deliveries held for nodes not keeping up, to go once they catch up. */
  held: number;
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
  /** The node is handing its rooms over before it stops: out of the view, its sessions still here. */
  handingOver?: true;
}

/** How a room came to this node from another: with its live state from its owner, or rebuilt after its owner was lost. */
export type Taken = 'handed-over' | 'rebuilt';

/** What the sender of a refused stanza reads. */
const REFUSAL_TEXT: Record<Refusal, string> = {
  unreachable: 'This server has lost its cluster for a moment; try again shortly',
  peer_full: 'The cluster node serving this is not keeping up; try again shortly',
};

/**
 * How long an acknowledgement may wait for a batch back to the same node to
 * ride on: far less than what fills `max_pending_bytes_per_peer` at any rate
 * a node sends, and a message saved per batch where traffic goes one way.
 */
const ACK_HOLD_MS = 10;

const DECODER = new TextDecoder();

/** How long a node waits for another's sessions (all the parts of its snapshot). */
const SNAPSHOT_WAIT_MS = 5_000;

export class ClusterNode {
  readonly self: string;
  private readonly instance = randomUUID();
  private readonly nats: NatsConnection;
  private readonly subjects: ClusterSubjects;
  private readonly windows: PeerWindows;
  /** For each node a batch came from since the last flush, the highest number handled: acknowledged at the flush. */
  private acksDue = new Map<string, number>();
  private readonly refused = new Map<Refusal, number>();
  private readonly dropped = new Map<Refusal, number>();
  private readonly taken = new Map<Taken, number>();
  /** Per node past its cap, the room deliveries held for it, in order, and their size (bounded by the cap again). */
  private readonly heldFor = new Map<string, { deliveries: Delivery[]; bytes: number }>();
  private readonly membership: Membership;
  private readonly directory = new SessionDirectory();
  private readonly localSessions = new Set<string>();
  /** For each session of another node, the occupant JIDs it holds in rooms here (by bare room JID). */
  private readonly remoteOccupants = new Map<string, Map<string, string>>();
  private local: LocalNode | undefined;
  private announcements: [jid: string, bound: boolean][] = [];
  private batches = new Map<string, Batch>();
  /** Items in `batches`. */
  private batched = 0;
  private readonly policy: FlushPolicy;
  private readonly flushTimer = new FlushTimer(() => this.flush());
  private heartbeats: NodeJS.Timeout | undefined;
  /** Another process heartbeats under this node's name. */
  private duplicate = false;
  private readonly listeners = new Set<(change: MembershipChange) => void>();
  private readonly connectionListeners = new Set<(connected: boolean) => void>();
  private service: ServiceBridge | undefined;
  private readonly heartbeatMs: number;
  private readonly timeoutMs: number;
  /**
   * From the moment NATS is lost until the node is back in the cluster (its
   * rooms dropped if it was counted out): it then acts as no room's owner and
   * sends nothing to the others. /ready says "cluster: disconnected".
   */
  private cutOff = false;
  /** When another node's heartbeat last arrived (undefined before any). */
  private lastHeardOther: number | undefined;
  /** What this node's sessions are in, for the rooms' next owners. */
  private readonly occupancy = new LocalOccupancy();
  /** This node is handing its rooms over to stop: it owns none, whatever the members. */
  private handingOver = false;
  /** Nodes out of the view that are handing their rooms over, and when each was last heard. */
  private readonly leavers = new Map<string, number>();
  private readonly rehoming: Rehoming;
  private readonly serviceDomain: string;

  private constructor(
    private readonly connection: ClusterConnection,
    private readonly settings: Settings & { cluster: NonNullable<Settings['cluster']> },
    private readonly log: Logger,
  ) {
    this.self = settings.cluster.node;
    this.nats = connection.nats;
    this.subjects = clusterSubjects(settings.cluster.subject_prefix);
    this.windows = new PeerWindows(settings.cluster.max_pending_bytes_per_peer);
    this.policy = new FlushPolicy(settings.cluster.batch_delay_ms);
    const timing = clusterTiming(settings.cluster);
    this.heartbeatMs = timing.heartbeat_seconds * 1000;
    this.timeoutMs = timing.node_timeout_seconds * 1000;
    this.membership = new Membership(this.self, this.timeoutMs, (change) => this.membersChanged(change));
    this.serviceDomain = serviceDomainOf(settings);
    this.rehoming = new Rehoming({
      self: this.self,
      serviceDomain: this.serviceDomain,
      occupancy: this.occupancy,
      log: this.log,
      // Long enough for every member to see the change (a sweep) and answer.
      timeoutMs: (timing.node_timeout_seconds + 2 * timing.heartbeat_seconds) * 1000,
      members: () => this.placing(),
      took: (how) => count(this.taken, how),
      liveRooms: () => this.service?.liveRooms() ?? Promise.resolve([]),
      maxPayload: () => this.payloadLimit(),
      send: (node, control) => {
        this.flush();
        this.publish(this.subjects.node(node), { control });
      },
      toShards: (stanza, sender) => this.local?.dispatch(stanza, sender),
      relay: (node, stanza) => this.toPeer(node, 'relayed', stanza),
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
    const child = log.child({ node: cluster.node });
    const node = new ClusterNode(await ClusterConnection.open(settings, cluster, child), { ...settings, cluster }, child);
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

  /** Calls `listener` each time the node is cut off from the cluster (false) or back in it (true); tests wait on it. */
  onConnection(listener: (connected: boolean) => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  /** Calls `listener` on every membership change (tests wait on it). */
  onChange(listener: (change: MembershipChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Connects this node's shards and sessions; until then nothing reaches them from the cluster. */
  attach(local: LocalNode): void {
    this.local = local;
    this.service = new ServiceBridge(this.settings, this.nats, this.subjects.service, this.self, () => this.members, this.log);
    // This node joins the view the others have: the rooms that are now its own come from their former owners.
    this.rehoming.changed(this.members.filter((node) => node !== this.self), this.members);
    this.heartbeat();
    this.heartbeats = setInterval(() => {
      if (!this.cutOff) this.heartbeat();
      const now = Date.now();
      this.membership.sweep(now);
      for (const [node, heard] of this.leavers) if (now - heard > this.timeoutMs) this.leaverGone(node, true);
    }, this.heartbeatMs);
    this.connection.onChange((up) => {
      if (up) return void this.reconnected();
      this.setCutOff(true);
      this.lostInFlight();
    });
  }

  /** Whether NATS is reachable, and what could not cross for want of it or of a peer keeping up. */
  health(): ClusterHealth {
    return { connected: !this.cutOff, members: this.members.length, disconnects: this.connection.disconnects, refused: this.refused, dropped: this.dropped, taken: this.taken, held: [...this.heldFor.values()].reduce((sum, held) => sum + held.deliveries.length, 0) };
  }

  /** The node that owns the room a stanza is for; service-wide stanzas stay here. */
  ownerOf(roomJid: string): string {
    const room = bareJid(roomJid);
    if (!room.includes('@')) return this.self;
    return ownerOf(room, this.placing()) ?? this.self;
  }

  /** The nodes rooms are placed on: the members, less this one while it hands its rooms over. */
  private placing(): readonly string[] {
    const members = this.membership.members;
    return this.handingOver ? members.filter((node) => node !== this.self) : members;
  }

  /** A stanza for the MUC service from a client of this node. */
  readonly dispatch = (stanza: Element, sender?: StanzaSender): void => {
    const to = stanza.attrs.to ?? '';
    // Cut off, this node cannot tell whether it still owns a room: it acts as no room's owner.
    if (this.cutOff && bareJid(to).includes('@')) return this.refuse(stanza, 'unreachable');
    this.occupancy.sent(stanza);
    const owner = this.ownerOf(to);
    if (owner === this.self) this.rehoming.admit(stanza, sender, false);
    else this.toPeer(owner, 'rooms', stanza);
  };

  /** What this node's shards produced: recipients here are served here, the others once per node. */
  readonly deliver = (deliveries: Delivery[]): void => {
    const here: Delivery[] = [];
    for (const delivery of deliveries) {
      if (delivery.to.length === 1 && delivery.to[0] === this.serviceDomain && this.exported(delivery)) continue;
      const local: string[] = [];
      let remote: Map<string, string[]> | undefined;
      for (const jid of delivery.to) {
        const nodes = this.otherNodesServing(jid);
        // A bare JID may have sessions here as well as elsewhere.
        if (nodes.length === 0 || jidResource(jid) === '') local.push(jid);
        for (const node of nodes) {
          remote ??= new Map();
          const list = remote.get(node);
          if (list) list.push(jid);
          else remote.set(node, [jid]);
        }
      }
      if (remote === undefined) {
        here.push(delivery);
        continue;
      }
      if (local.length > 0) here.push({ head: delivery.head, tail: delivery.tail, to: local });
      for (const [node, to] of remote) {
        const refusal = this.refusalFor(node);
        const part = { head: delivery.head, tail: delivery.tail, to };
        if (refusal === 'unreachable') count(this.dropped, refusal);
        // Behind what is held already, so that the node's sessions get the rooms' output in order.
        else if (refusal === 'peer_full' || this.heldFor.has(node)) this.hold(node, part);
        else this.batchFor(node).deliveries.push(part);
      }
    }
    if (here.length > 0) this.localDelivery(here);
  };

  /**
   * Holds a room delivery for a node past its cap (docs/DESIGN.md says why
   * not an error to the sender): up to the cap again, then they are dropped
   * and counted.
   */
  private hold(node: string, delivery: Delivery): void {
    let held = this.heldFor.get(node);
    if (!held) this.heldFor.set(node, (held = { deliveries: [], bytes: 0 }));
    // UTF-16 units, as the window counts: near enough to bytes for a bound.
    const bytes = delivery.head.length + delivery.tail.length + delivery.to.reduce((sum, jid) => sum + jid.length + 3, 0);
    if (held.bytes + bytes > this.settings.cluster.max_pending_bytes_per_peer) return count(this.dropped, 'peer_full');
    held.deliveries.push(delivery);
    held.bytes += bytes;
  }

  /** `node` acknowledged what it handled: its window may be open again, and what was held for it goes. */
  private acked(node: string, seq: number): void {
    this.windows.acked(node, seq);
    const held = this.heldFor.get(node);
    if (held === undefined || !this.windows.open(node) || this.cutOff) return;
    this.heldFor.delete(node);
    this.batchFor(node).deliveries.push(...held.deliveries);
  }

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
    if (this.cutOff) {
      // Whether another node has the user is not known now: a wait, not an offline message or a cancel. Presences just lapse.
      if (stanza.name !== 'presence') this.refuse(stanza, 'unreachable');
      return true;
    }
    const nodes = this.directory.nodesServing(jid);
    for (const node of stanza.name === 'presence' ? nodes : nodes.slice(0, 1)) this.toPeer(node, 'stanzas', stanza);
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

  /**
   * Before a clean stop: hands every room of this node to its next owner,
   * live (rehoming.ts), and resolves once they are all sent or after
   * `timeoutMs`. Its sessions stay, and stay in the rooms, until they end.
   */
  async handOver(timeoutMs: number): Promise<void> {
    const before = this.membership.members;
    const after = before.filter((node) => node !== this.self);
    if (!this.local || this.cutOff || this.handingOver || after.length === 0 || timeoutMs === 0) return;
    this.handingOver = true;
    this.flush();
    this.publish(this.subjects.leaving, { node: this.self, instance: this.instance, handingOver: true } satisfies Heartbeat);
    const timer = new AbortController();
    const handedOver = this.rehoming.handOver(before, after).then(() => true);
    const done = await Promise.race([handedOver, sleep(timeoutMs, false, { signal: timer.signal }).catch(() => false)]);
    timer.abort();
    if (!done) this.log.warn({ timeoutMs }, 'cluster: the rooms were not all handed over in time (cluster.drain_timeout_ms); stopping anyway');
    // What the rooms sent here meanwhile goes out before the sessions' ends.
    this.flush();
  }

  /**
   * Tells this node's sessions that they were removed from the rooms they
   * are in on other nodes, as a shutdown does (332), before their streams end.
   */
  leaveRooms(): void {
    const deliveries = this.occupancy.removals();
    if (deliveries.length > 0) this.localDelivery(deliveries);
  }

  /** Says goodbye (the others count this node out at once) and closes the connection once what is queued has gone. */
  async close(): Promise<void> {
    clearInterval(this.heartbeats);
    this.rehoming.close();
    this.service?.close();
    this.flush();
    this.publish(this.subjects.leaving, { node: this.self, instance: this.instance } satisfies Heartbeat);
    // Cut off, there is nothing to drain to: it would wait for NATS to come back.
    if (!this.connection.up) return this.nats.close();
    await this.nats.drain().catch((err: unknown) => this.log.warn({ err }, 'NATS drain failed'));
  }

  private listen(): void {
    const { self } = this;
    this.subscribe(this.subjects.heartbeat, (beat: Heartbeat) => {
      if (beat.handingOver && beat.node !== self) {
        if (this.leavers.has(beat.node)) this.leavers.set(beat.node, Date.now());
        return;
      }
      if (beat.node === self) {
        if (beat.instance !== this.instance && !this.duplicate) {
          this.duplicate = true;
          this.log.error({ node: self }, 'another process heartbeats as this node: give each node its own cluster.node');
        }
        return;
      }
      this.lastHeardOther = Date.now();
      // A newcomer hears from everyone at once rather than a heartbeat later.
      if (this.membership.heard(beat.node, this.lastHeardOther) && this.local) this.heartbeat();
    });
    this.subscribe(this.subjects.hello, (hello: Heartbeat) => {
      if (hello.node === self || !this.local) return;
      this.heartbeat();
      // A member back from an outage may have bound and ended sessions meanwhile, unannounced.
      if (this.membership.members.includes(hello.node)) this.readSessions(hello.node);
    });
    this.subscribe(this.subjects.leaving, (beat: Heartbeat) => {
      if (beat.node === self) return;
      if (beat.handingOver) this.leavers.set(beat.node, Date.now());
      else if (this.leavers.has(beat.node)) return this.leaverGone(beat.node, false);
      this.membership.leaving(beat.node);
    });
    this.subscribe(this.subjects.sessions, (message: { node: string; changes: [string, boolean][] }) => {
      // Announcements from a node not (or no longer) counted in would outlive it in the directory.
      if (message.node === self || !(this.membership.members.includes(message.node) || this.leavers.has(message.node))) return;
      for (const [jid, bound] of message.changes) {
        if (bound) this.directory.bound(message.node, jid);
        else {
          this.directory.ended(message.node, jid);
          this.remoteOccupants.delete(jid);
        }
      }
    });
    this.subscribe(this.subjects.node(self), (message: (Batch & Partial<Frame>) | { control: Control }) => {
      if ('control' in message) this.rehoming.control(message.control);
      else this.received(message);
    });
    this.subscribe(this.subjects.acks(self), (ack: { node: string; seq: number }) => this.acked(ack.node, ack.seq));
    this.subscribe(this.subjects.snapshot(self), (_: unknown, msg) => {
      // In parts under the payload limit (20,000 sessions outgrow 1 MiB), then an empty message: the end.
      for (const part of jsonArrays([...this.localSessions], this.payloadLimit())) msg.respond(part);
      msg.respond();
    });
    this.subscribe(this.subjects.status, (_: unknown, msg) => msg.respond(JSON.stringify(this.status())));
    this.publish(this.subjects.hello, { node: self, instance: this.instance } satisfies Heartbeat);
  }

  /**
   * NATS is back. Counted out meanwhile (silent past node_timeout_seconds),
   * this node's rooms have been placed on the others: its own copies go
   * before it heartbeats again. Then it says hello (each node answers with a
   * heartbeat and re-reads this node's sessions) and re-reads theirs.
   */
  private async reconnected(): Promise<void> {
    // Silent for about as long as the others wait (a heartbeat of margin either side): they have counted it out.
    const silentMs = this.lastHeardOther === undefined ? 0 : Date.now() - this.lastHeardOther;
    if (this.local && silentMs > this.timeoutMs - 2 * this.heartbeatMs) {
      this.log.warn({ silentMs }, 'cluster: this node was counted out; ending its rooms here (their occupants hear 332) before it rejoins');
      // The shards restart as after a crash (logged as one): their workers take the rooms and the leases with them.
      await this.local.restartRooms().catch((err: unknown) => this.log.error({ err }, 'cluster: could not end the rooms of a node counted out'));
    }
    if (!this.connection.up) return;
    this.lostInFlight();
    this.setCutOff(false);
    this.publish(this.subjects.hello, { node: this.self, instance: this.instance } satisfies Heartbeat);
    this.heartbeat();
    for (const node of this.membership.members) if (node !== this.self) this.readSessions(node);
  }

  /** The turn's batch for a node that is out: its room stanzas go to the rooms' new owners, the others' senders hear `wait`. */
  private unsent(node: string): void {
    const batch = this.batches.get(node);
    this.batches.delete(node);
    for (const stanza of batch?.rooms ?? []) this.dispatch(stanza);
    for (const stanza of batch?.relayed ?? []) this.relay(stanza);
    for (const stanza of batch?.stanzas ?? []) this.refuse(stanza, 'unreachable');
  }

  /** What was sent to `node` (or to any) and not acknowledged will not be: its senders hear `wait`. */
  private lostInFlight(node?: string): void {
    for (const stanza of this.windows.reset(node)) this.refuse(stanza, 'unreachable');
    for (const [peer, held] of this.heldFor) {
      if (node !== undefined && peer !== node) continue;
      this.heldFor.delete(peer);
      // Its window starts from nothing: what was held for it goes now, if it is still there to take it.
      if (!this.cutOff && this.membership.members.includes(peer)) this.batchFor(peer).deliveries.push(...held.deliveries);
      else count(this.dropped, 'unreachable', held.deliveries.length);
    }
  }

  private setCutOff(cutOff: boolean): void {
    this.cutOff = cutOff;
    for (const listener of this.connectionListeners) listener(!cutOff);
  }

  /**
   * Replaces what the directory knows of `node` with its sessions as it lists
   * them now. The parts arrive on a subscription of this connection, so they
   * are handled in order with the node's announcements: those it published
   * before its answer come first and give way to it, those after it apply on
   * top (an iterator's answer, handled a turn later, could be overtaken by a
   * newer announcement and undo it).
   */
  private readSessions(node: string): void {
    const inbox = createInbox();
    const sessions: string[] = [];
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      this.log.warn({ node, received: sessions.length }, 'no whole session snapshot from a cluster node');
    }, SNAPSHOT_WAIT_MS);
    const subscription = this.nats.subscribe(inbox, {
      callback: (err, msg) => {
        try {
          if (err) throw err;
          if (msg.data.length > 0) return void sessions.push(...(JSON.parse(DECODER.decode(msg.data)) as string[]));
        } catch (error) {
          clearTimeout(timer);
          subscription.unsubscribe();
          return this.log.warn({ err: error, node }, 'no session snapshot from a cluster node');
        }
        clearTimeout(timer);
        subscription.unsubscribe();
        if (!this.membership.members.includes(node)) return;
        const now = new Set(sessions);
        // Sessions that ended unannounced (while NATS was away) leave the rooms here as on a disconnect.
        for (const jid of this.directory.replace(node, sessions)) if (!now.has(jid)) this.sessionLost(jid);
      },
    });
    this.nats.publish(this.subjects.snapshot(node), undefined, { reply: inbox });
  }

  /** Subscribes with a JSON handler; what another node sends wrong is logged, never thrown. */
  private subscribe<T>(subject: string, handle: (body: T, msg: Msg) => void): void {
    this.nats.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return this.log.error({ err, subject }, 'NATS subscription failed');
        try {
          handle(msg.data.length === 0 ? (undefined as T) : (JSON.parse(DECODER.decode(msg.data)) as T), msg);
        } catch (error) {
          this.log.error({ err: error, subject }, 'bad cluster message');
        }
      },
    });
  }

  private heartbeat(): void {
    const beat: Heartbeat = { node: this.self, instance: this.instance };
    if (this.handingOver) beat.handingOver = true;
    this.publish(this.subjects.heartbeat, beat);
  }

  /** A node that was handing its rooms over has stopped (or gone silent): its sessions are gone. */
  private leaverGone(node: string, silent: boolean): void {
    this.leavers.delete(node);
    if (silent) this.log.warn({ node }, 'cluster node went silent while handing its rooms over: they are rebuilt here');
    this.rehoming.stoppedHandingOver(node, silent);
    for (const jid of this.directory.drop(node)) this.sessionLost(jid);
    this.unsent(node);
    this.lostInFlight(node);
  }

  private membersChanged(change: MembershipChange): void {
    // Before the node is attached it is learning the members, not changing them; handing its rooms over, it owns none.
    const handingOver = change.left.filter((node) => this.leavers.has(node));
    const before = [...change.members.filter((node) => !change.joined.includes(node)), ...change.left].sort();
    if (this.local && !this.handingOver) this.rehoming.changed(before, change.members, handingOver);
    if (this.handingOver) for (const node of change.left) this.rehoming.leftDuringHandOver(node);
    for (const node of change.left) {
      if (handingOver.includes(node)) {
        this.log.info({ left: node, members: change.members }, 'cluster node stopping: it hands its rooms over');
        continue;
      }
      for (const jid of this.directory.drop(node)) this.sessionLost(jid);
      this.unsent(node);
      this.lostInFlight(node);
      this.log.warn({ left: node, members: change.members }, 'cluster node out: its rooms re-home');
    }
    for (const node of change.joined) {
      this.log.info({ joined: node, members: change.members }, 'cluster node in');
      this.lostInFlight(node);
      this.readSessions(node);
    }
    for (const listener of this.listeners) listener(change);
  }

  private received(batch: Batch & Partial<Frame>): void {
    const local = this.local;
    if (!local) return;
    const { from, seq, ack } = batch;
    if (typeof from === 'string' && Number.isInteger(seq)) {
      this.acksDue.set(from, seq!);
      this.flushTimer.within(ACK_HOLD_MS);
    }
    if (typeof from === 'string' && Number.isInteger(ack)) this.acked(from, ack!);
    for (const plain of batch.rooms) this.relay(Element.revive(plain));
    for (const plain of batch.relayed) this.toLocalRoom(Element.revive(plain), true);
    if (batch.deliveries.length > 0) this.localDelivery(batch.deliveries);
    for (const plain of batch.stanzas) local.fromCluster(Element.revive(plain));
  }

  /** A room stanza from another node's session to its room's owner as this node sees it (the sender's view may differ): passed on once at most. */
  private relay(stanza: Element): void {
    const to = stanza.attrs.to ?? '';
    const owner = this.ownerOf(to);
    // A node that saw a membership change before this one sends a room's stanzas to whom it sees as the owner.
    if (owner === this.self || this.rehoming.expects(bareJid(to))) this.toLocalRoom(stanza, false);
    else this.toPeer(owner, 'relayed', stanza);
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
    // At the turn's end: a room's owner must know a newcomer's node before its join, which may ride behind it.
    this.flushTimer.within(0);
  }

  /** Batches a stanza for another node, or answers it with `wait` when that node cannot be reached now. */
  private toPeer(node: string, kind: 'rooms' | 'relayed' | 'stanzas', stanza: Element): void {
    const refusal = this.refusalFor(node);
    if (refusal === undefined) this.batchFor(node)[kind].push(stanza);
    else this.refuse(stanza, refusal);
  }

  private refusalFor(node: string): Refusal | undefined {
    if (this.cutOff) return 'unreachable';
    if (!this.windows.open(node)) return 'peer_full';
    return undefined;
  }

  /** Answers a stanza that cannot reach its node with a temporary error, to its sender here or on its node. */
  private refuse(stanza: Element, refusal: Refusal): void {
    count(this.refused, refusal);
    const error = errorAnswer(stanza, 'resource-constraint', REFUSAL_TEXT[refusal]);
    if (error === undefined) return;
    const to = error.attrs.to ?? '';
    if (this.local?.serves(to)) this.local.fromCluster(error);
    else if (!this.cutOff) this.forward(error, to);
  }

  private batchFor(node: string): Batch {
    let batch = this.batches.get(node);
    if (!batch) this.batches.set(node, (batch = emptyBatch()));
    this.flushTimer.within(this.policy.holdMs(++this.batched, performance.now()));
    return batch;
  }

  /**
   * Sends the announcements, then one batch per node, each carrying the
   * acknowledgement due to its node, then the acknowledgements no batch
   * carried. Cut off, it sends nothing: the batches' stanzas get `wait`, their
   * deliveries are dropped, and the announcements are left to the snapshot
   * every node reads of this one when it is back.
   */
  private flush(): void {
    this.flushTimer.cancel();
    const { announcements, acksDue, batches, batched } = this;
    this.announcements = [];
    this.acksDue = new Map();
    this.batches = new Map();
    this.batched = 0;
    this.policy.flushed(batched, performance.now());
    const up = !this.cutOff;
    if (up && announcements.length > 0) this.publish(this.subjects.sessions, { node: this.self, changes: announcements });
    const limit = this.payloadLimit() - frameBytes(this.self);
    const encoded = new Map<string, EncodedStanza>();
    for (const [node, batch] of batches) {
      for (const { payload, stanzas } of encodeBatch(batch, limit, encoded)) {
        if (up && this.publishBatch(node, payload, stanzas, acksDue.get(node))) {
          acksDue.delete(node);
          continue;
        }
        for (const stanza of stanzas) this.refuse(stanza, 'unreachable');
      }
      if (!up) count(this.dropped, 'unreachable', batch.deliveries.length);
    }
    if (up) for (const [node, seq] of acksDue) this.publish(this.subjects.acks(node), { node: this.self, seq });
  }

  /** One message of a batch, numbered for the receiver's acknowledgement and counted as pending until it comes; it may carry an acknowledgement back. */
  private publishBatch(node: string, payload: string, stanzas: readonly Element[], ack: number | undefined): boolean {
    // Its length in UTF-16 units: near enough to its bytes for a cap.
    const seq = this.windows.sent(node, payload.length, stanzas.filter(isAnswerable));
    return this.publish(this.subjects.node(node), framed(payload, { from: this.self, seq, ack }));
  }

  private payloadLimit(): number {
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
}

function count<K>(counts: Map<K, number>, key: K, amount = 1): void {
  if (amount > 0) counts.set(key, (counts.get(key) ?? 0) + amount);
}

/** JSON arrays of the strings, each under `limit` bytes but where one string alone is over it. */
function jsonArrays(items: readonly string[], limit: number): string[] {
  const arrays: string[] = [];
  let part: string[] = [];
  let size = 2;
  for (const item of items) {
    const json = JSON.stringify(item);
    const bytes = Buffer.byteLength(json) + 1;
    if (size + bytes > limit && part.length > 0) {
      arrays.push(`[${part.join(',')}]`);
      part = [];
      size = 2;
    }
    part.push(json);
    size += bytes;
  }
  if (part.length > 0) arrays.push(`[${part.join(',')}]`);
  return arrays;
}
