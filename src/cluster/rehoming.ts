// Rooms that change owner when the members change, with their live state and
// without a stanza lost, duplicated or reordered (docs/DESIGN.md, "Hand-off
// and failover", gives the argument). A membership change is a transition
// from one view of the members to the next; every node takes part:
//
// - Each node, as soon as its view changes, sends every other member a
//   marker for the new view: all it sent that node under the old view went
//   before. With the marker go its reports for the rooms the receiver now
//   owns that a departed node owned: what it knows of its own sessions there
//   (occupancy.ts).
// - The new owner of a room holds the room's stanzas until the room's state
//   is there. From a live former owner (a node joined): until that node sends
//   the room's exported state (`moved`) or says it had none (`moves-done`).
//   From a departed one: until every surviving member's marker, and so its
//   reports, has come; the room is rebuilt from them, and the occupants that
//   nobody reported are announced as gone. Then the held stanzas go to the
//   shards: those the former owner relayed first, then the others.
// - A live former owner waits for every member's marker (so no stanza sent
//   under the old view is still on its way to it), then asks its shards to
//   export each room it gave up: the export is handled after whatever the
//   room had queued, and the state goes to the new owner. What reaches it for
//   the room meanwhile it relays to the new owner, ahead of the state.
//
// A node that stops cleanly hands its rooms over the same way, in reverse: it
// says it is leaving and still alive (`handing over`), takes itself out of
// its own view, and exports every room it owned; the others take it as a live
// former owner, not a dead one, send it their markers too, and count it done
// with its `moves-done`. Should it go silent instead, its rooms are rebuilt
// from the reports as after a death.
//
// A transition that does not complete within the timeout (a member that died
// too, say) lets its held stanzas go on as the view stands, and says so.

import { bareJid } from '../jid/jid.js';
import type { Logger } from '../log.js';
import type { StanzaSender } from '../runtime/shard-pool.js';
import { exportRequest, importRequest, type RoomState, type TransferredOccupant } from '../muc/transfer.js';
import type { Role } from '../muc/roles.js';
import type { Element } from '../xml/element.js';
import type { LocalOccupancy, RoomReport } from './occupancy.js';
import { ownerOf } from './placement.js';

/** What nodes tell each other about a transition, on the receiver's subject, in order with the stanzas. */
export type Control =
  | { kind: 'view'; from: string; members: string[]; reports: RoomReport[] }
  /** Reports that did not fit in one message with the marker: they come before it. */
  | { kind: 'reports'; from: string; members: string[]; reports: RoomReport[] }
  | { kind: 'moved'; from: string; room: string; state: RoomState }
  | { kind: 'moves-done'; from: string; members: string[] };

export interface RehomingHost {
  readonly self: string;
  readonly serviceDomain: string;
  readonly occupancy: LocalOccupancy;
  readonly log: Logger;
  readonly timeoutMs: number;
  members(): readonly string[];
  /** The rooms live on this node's shards. */
  liveRooms(): Promise<string[]>;
  /** The largest message NATS takes, in bytes. */
  maxPayload(): number;
  /** A room came here from another node: with its live state from its owner, or rebuilt from the reports. */
  took(how: 'handed-over' | 'rebuilt'): void;
  /** Sends a control message to a node, after everything already on its way there. */
  send(node: string, control: Control): void;
  /** Hands a stanza to this node's shards. */
  toShards(stanza: Element, sender?: StanzaSender): void;
  /** Passes a stanza on to the node that owns its room now. */
  relay(node: string, stanza: Element): void;
  /** A session of another node is in a room here, as `occupantJid`. */
  occupies(fullJid: string, occupantJid: string): void;
}

interface Held {
  stanza: Element;
  sender?: StanzaSender;
  relayed: boolean;
}

class Transition {
  readonly key: string;
  /** Whether this node's own view became `after` (otherwise another node's marker announced it). */
  confirmed = false;
  /** Members whose marker is still to come. */
  readonly awaited: Set<string>;
  /** Nodes that left this view alive, handing their rooms over before they stop (until they stop, or go silent). */
  readonly handingOver = new Set<string>();
  /** On the node handing over: called once its rooms are all sent (or the transition ran out of time). */
  handedOver: (() => void) | undefined;
  readonly reports = new Map<string, RoomReport[]>();
  /** Rooms whose state came from their live former owner, and the former owners that have sent all theirs. */
  readonly moved = new Set<string>();
  readonly movesDone = new Set<string>();
  /** Stanzas held per room, in arrival order. */
  readonly held = new Map<string, Held[]>();
  /** Whether the rooms of departed nodes were rebuilt here from the reports (all markers in). */
  rebuilt = false;
  exportsStarted = false;
  /** Whether every room to export is in `exports`. */
  exportsListed = false;
  /** Rooms whose export this node awaits. */
  readonly exports = new Set<string>();
  /** Whether this node said `moves-done` for this transition. */
  movesAnnounced = false;
  timer: NodeJS.Timeout | undefined;

  constructor(
    public before: readonly string[],
    readonly after: readonly string[],
    self: string,
  ) {
    this.key = after.join(' ');
    this.awaited = new Set(after.filter((node) => node !== self));
  }

  /** Whether this node gains the room in this transition and its state is not here yet. */
  waitsFor(room: string, self: string): boolean {
    // Stanzas to the service itself are every node's.
    if (!room.includes('@') || ownerOf(room, this.after) !== self) return false;
    const former = ownerOf(room, this.before);
    if (former === undefined || former === self) return false;
    if (!this.after.includes(former) && !this.handingOver.has(former)) return !this.rebuilt;
    return !this.moved.has(room) && !this.movesDone.has(former);
  }

  /** The nodes this node tells of its progress: the members, and those handing over to them. */
  get told(): string[] {
    return [...this.after, ...this.handingOver];
  }
}

export class Rehoming {
  private readonly transitions = new Map<string, Transition>();
  /** Rooms this node's shards were given stanzas for lately (two generations of `timeoutMs`): a room still loading may have to be handed over too. */
  private recentRooms = new Set<string>();
  private olderRooms = new Set<string>();
  private readonly ageing: NodeJS.Timeout;
  private closed = false;
  /** Exports asked of the shards: room → its transition. */
  private readonly exporting = new Map<string, Transition>();

  constructor(private readonly host: RehomingHost) {
    this.ageing = setInterval(() => {
      this.olderRooms = this.recentRooms;
      this.recentRooms = new Set();
    }, host.timeoutMs).unref();
  }

  /**
   * A stanza for a room this node owns as it sees the members (or one
   * another node relayed here), on its way to the shards: held while the
   * room's state is on its way here.
   */
  admit(stanza: Element, sender: StanzaSender | undefined, relayed: boolean): void {
    const room = bareJid(stanza.attrs.to ?? '');
    for (const transition of this.transitions.values()) {
      if (!transition.waitsFor(room, this.host.self)) continue;
      let held = transition.held.get(room);
      if (!held) transition.held.set(room, (held = []));
      held.push({ stanza, sender, relayed });
      return;
    }
    if (room.includes('@')) this.recentRooms.add(room);
    this.host.toShards(stanza, sender);
  }

  /** A held stanza let go: to the room's owner as the view now stands (what was relayed here is handled here). */
  private readmit({ stanza, sender, relayed }: Held): void {
    const owner = ownerOf(bareJid(stanza.attrs.to ?? ''), this.host.members()) ?? this.host.self;
    if (owner === this.host.self || relayed) this.admit(stanza, sender, relayed);
    else this.host.relay(owner, stanza);
  }

  /** Whether another node's marker says this node owns the room in a view it does not have yet. */
  expects(room: string): boolean {
    for (const transition of this.transitions.values()) if (transition.waitsFor(room, this.host.self)) return true;
    return false;
  }

  /** This node's view changed from `before` to `after`; the nodes in `handingOver` left it alive, to hand their rooms over. */
  changed(before: readonly string[], after: readonly string[], handingOver: readonly string[] = []): void {
    if (this.closed) return;
    const transition = this.transition(before, after);
    transition.before = before;
    transition.confirmed = true;
    for (const node of handingOver) transition.handingOver.add(node);
    const reports = new Map<string, RoomReport[]>();
    for (const room of this.host.occupancy.rooms()) {
      const former = ownerOf(room, before);
      // A node handing its rooms over does not report on them: it exports them.
      if (former === undefined || former === this.host.self || after.includes(former)) continue;
      const owner = ownerOf(room, after)!;
      const report = this.host.occupancy.report(room)!;
      if (owner === this.host.self) this.addReport(transition, report);
      else reports.set(owner, [...(reports.get(owner) ?? []), report]);
    }
    for (const node of transition.told) {
      if (node === this.host.self) continue;
      const parts = inParts(reports.get(node) ?? [], this.host.maxPayload());
      const last = parts.pop() ?? [];
      for (const part of parts) this.host.send(node, { kind: 'reports', from: this.host.self, members: [...after], reports: part });
      this.host.send(node, { kind: 'view', from: this.host.self, members: [...after], reports: last });
    }
    this.progress(transition);
  }

  /**
   * This node stops: it leaves the view `before` for `after` (itself out)
   * and exports its rooms to their new owners. Resolves once they are all
   * sent, or the transition ran out of time.
   */
  handOver(before: readonly string[], after: readonly string[]): Promise<void> {
    return new Promise((resolve) => {
      this.transition(before, after).handedOver = resolve;
      this.changed(before, after);
    });
  }

  /**
   * A node that was handing its rooms over stopped (`silent`: went silent
   * instead). Rooms it did not send are rebuilt from the reports if it went
   * silent; if it stopped, it told their occupants they were removed (332),
   * and the rooms start afresh here.
   */
  stoppedHandingOver(node: string, silent: boolean): void {
    for (const transition of [...this.transitions.values()]) {
      if (!transition.handingOver.delete(node)) continue;
      if (!silent) transition.movesDone.add(node);
      else if (transition.rebuilt) this.rebuild(transition, node);
      this.progress(transition);
    }
  }

  /** A node left while this one hands its rooms over: its marker will not come (it may be stopping too). */
  leftDuringHandOver(node: string): void {
    for (const transition of [...this.transitions.values()]) if (transition.awaited.delete(node)) this.progress(transition);
  }

  control(message: Control): void {
    if (message.kind === 'view' || message.kind === 'reports') {
      const transition = this.transition(this.host.members(), message.members);
      if (message.kind === 'view') transition.awaited.delete(message.from);
      for (const report of message.reports) this.addReport(transition, report);
      this.progress(transition);
    } else if (message.kind === 'moved') {
      this.host.took('handed-over');
      this.noteOccupants(message.state.occupants);
      this.recentRooms.add(message.room);
      this.host.toShards(importRequest(message.room, this.host.serviceDomain, message.state));
      for (const transition of this.transitions.values()) {
        if (ownerOf(message.room, transition.before) !== message.from) continue;
        transition.moved.add(message.room);
        this.progress(transition);
      }
    } else {
      const transition = this.transitions.get(message.members.join(' '));
      if (transition === undefined) return;
      transition.movesDone.add(message.from);
      this.progress(transition);
    }
  }

  /** A room's answer to an export (or its state when it was fenced out of its lease): its state goes to the room's new owner. */
  exported(room: string, state: RoomState | undefined): void {
    const transition = this.exporting.get(room);
    if (transition === undefined) return this.fencedOut(room, state);
    this.exporting.delete(room);
    transition.exports.delete(room);
    const owner = ownerOf(room, transition.after)!;
    if (state !== undefined) this.host.send(owner, { kind: 'moved', from: this.host.self, room, state });
    this.progress(transition);
  }

  /**
   * Another node took the lease of a room this node had live: its state goes
   * to the room's owner as this node sees the members; to this node's own
   * shards if that is this node, which takes the lease back.
   */
  private fencedOut(room: string, state: RoomState | undefined): void {
    if (state === undefined) return;
    const owner = ownerOf(room, this.host.members()) ?? this.host.self;
    this.host.log.warn({ room, owner }, 'a room was fenced out of its lease here: it goes on where the cluster places it');
    if (owner === this.host.self) this.host.toShards(importRequest(room, this.host.serviceDomain, state));
    else this.host.send(owner, { kind: 'moved', from: this.host.self, room, state });
  }

  /** Clears the timers (the node is closing). */
  close(): void {
    this.closed = true;
    clearInterval(this.ageing);
    for (const transition of this.transitions.values()) {
      clearTimeout(transition.timer);
      transition.handedOver?.();
    }
  }

  private transition(before: readonly string[], after: readonly string[]): Transition {
    const key = after.join(' ');
    let transition = this.transitions.get(key);
    if (transition === undefined) {
      transition = new Transition(before, after, this.host.self);
      this.transitions.set(key, transition);
      const created = transition;
      created.timer = setTimeout(() => this.expire(created), this.host.timeoutMs);
    }
    return transition;
  }

  private addReport(transition: Transition, report: RoomReport): void {
    const reports = transition.reports.get(report.room);
    if (reports) reports.push(report);
    else transition.reports.set(report.room, [report]);
  }

  /** Does what the transition now allows: rebuild departed nodes' rooms, export given-up rooms, release held stanzas. */
  private progress(transition: Transition): void {
    const everyone = transition.confirmed && transition.awaited.size === 0;
    if (everyone && !transition.rebuilt) {
      transition.rebuilt = true;
      this.rebuild(transition);
    }
    if (everyone && !transition.exportsStarted) {
      transition.exportsStarted = true;
      void this.startExports(transition);
      return;
    }
    if (transition.exportsListed && transition.exports.size === 0 && !transition.movesAnnounced) {
      transition.movesAnnounced = true;
      // Every room this node gave up in this transition has gone to its new owner.
      for (const node of transition.told) if (node !== this.host.self) this.host.send(node, { kind: 'moves-done', from: this.host.self, members: [...transition.after] });
      transition.handedOver?.();
    }
    for (const [room, held] of transition.held) {
      if (transition.waitsFor(room, this.host.self)) continue;
      transition.held.delete(room);
      // What the former owner relayed was sent before anything that came straight here.
      for (const item of [...held.filter((item) => item.relayed), ...held.filter((item) => !item.relayed)]) this.readmit(item);
    }
    // Done once nothing is held and no member has rooms left to send here (each says so once it has sent them).
    const allMoved = transition.told.every((node) => node === this.host.self || transition.movesDone.has(node));
    if (transition.movesAnnounced && allMoved && transition.held.size === 0) this.finish(transition);
  }

  /** Rebuilds from the reports the rooms that departed nodes owned and this node gains (only `former`'s, if given). */
  private rebuild(transition: Transition, former?: string): void {
    for (const [room, reports] of transition.reports) {
      const owner = ownerOf(room, transition.before)!;
      if (ownerOf(room, transition.after) !== this.host.self || (former !== undefined && owner !== former)) continue;
      // A room whose former owner hands it over comes with its live state instead (or is rebuilt should that node go silent).
      if (transition.handingOver.has(owner)) continue;
      transition.reports.delete(room);
      if (transition.moved.has(room) || transition.movesDone.has(owner)) continue;
      this.host.took('rebuilt');
      const state = rebuiltState(reports);
      this.noteOccupants(state.occupants);
      this.recentRooms.add(room);
      this.host.toShards(importRequest(room, this.host.serviceDomain, state));
    }
  }

  /**
   * Asks the shards to export every room this node gives up: the live ones,
   * and those given a stanza lately (a room still loading is not live yet).
   */
  private async startExports(transition: Transition): Promise<void> {
    // A node closing has no shards to ask: what they hold ends with them.
    const live = await this.host.liveRooms().catch(() => []);
    if (this.closed) return;
    const candidates = new Set([...live, ...this.recentRooms, ...this.olderRooms]);
    for (const room of candidates) {
      if (ownerOf(room, transition.before) !== this.host.self || ownerOf(room, transition.after) === this.host.self) continue;
      transition.exports.add(room);
      this.exporting.set(room, transition);
      this.host.toShards(exportRequest(room, this.host.serviceDomain));
    }
    transition.exportsListed = true;
    this.progress(transition);
  }

  private finish(transition: Transition): void {
    clearTimeout(transition.timer);
    this.transitions.delete(transition.key);
  }

  /** The transition ran out of time: what it holds goes on as the view stands. */
  private expire(transition: Transition): void {
    if (!this.transitions.has(transition.key)) return;
    this.host.log.warn(
      { members: transition.after, awaited: [...transition.awaited], exports: transition.exports.size, held: transition.held.size },
      'a membership change did not complete in time: held room stanzas go on without the rooms\' state',
    );
    this.finish(transition);
    transition.handedOver?.();
    for (const room of transition.exports) this.exporting.delete(room);
    for (const held of transition.held.values()) for (const item of held) this.readmit(item);
  }

  private noteOccupants(occupants: readonly TransferredOccupant[]): void {
    for (const occupant of occupants) for (const [jid] of occupant.sessions) this.host.occupies(jid, occupant.nick);
  }
}

/** Reports in groups that each fit in a message of `limit` bytes (a report larger than that alone in one). */
export function inParts(reports: readonly RoomReport[], limit: number): RoomReport[][] {
  const parts: RoomReport[][] = [];
  let part: RoomReport[] = [];
  // Room for the message's other fields.
  let size = 1024;
  for (const report of reports) {
    const bytes = Buffer.byteLength(JSON.stringify(report)) + 1;
    if (part.length > 0 && size + bytes > limit) {
      parts.push(part);
      part = [];
      size = 1024;
    }
    part.push(report);
    size += bytes;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

/** A room whose owner died, as the survivors' sessions were in it: the occupants they kept, and those nobody did. */
export function rebuiltState(reports: readonly RoomReport[]): RoomState {
  const occupants = new Map<string, TransferredOccupant>();
  const shown = new Map<string, string>();
  const seen = new Map<string, string>();
  for (const report of reports) {
    for (const [nick, affiliation] of report.seen) seen.set(nick, affiliation);
    for (const session of report.sessions) {
      const bare = bareJid(session.jid);
      let occupant = occupants.get(session.nick);
      if (!occupant) occupants.set(session.nick, (occupant = { nick: session.nick, bareJid: bare, role: session.role as Role, sessions: [] }));
      occupant.sessions.push([session.jid, session.presence]);
      shown.set(bare, session.affiliation);
    }
  }
  return {
    occupants: [...occupants.values()],
    affiliations: [...shown].filter(([, affiliation]) => affiliation !== 'none').map(([jid, affiliation]) => [jid, { affiliation } as RoomState['affiliations'][number][1]]),
    gone: [...seen].filter(([nick]) => !occupants.has(nick)),
  };
}
