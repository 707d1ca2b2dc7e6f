// The session table: every bound client session by full JID, and the
// resources of each bare JID, with what routing needs to know about them:
// whether they are available and at what priority.

import type { Delivery } from '../runtime/protocol.js';
import type { StanzaSender } from '../runtime/shard-pool.js';
import type { Element } from '../xml/element.js';

/** A bound client session as routing sees it. */
export interface BoundSession extends StanzaSender {
  readonly fullJid: string;
  readonly bareJid: string;
  /** Sent available broadcast presence and has not gone unavailable since. */
  available: boolean;
  /** The priority of its last available presence (RFC 6121 §4.7.2.3). */
  priority: number;
  /** The last available broadcast presence, shown to resources that come later. */
  presence: Element | undefined;
  /** Full or bare JIDs this session sent available directed presence to. */
  readonly directedPresence: Set<string>;
  /** Queues serialized XML for the client. */
  send(xml: string): void;
  /**
   * Takes a shard's delivery addressed to `jid` as it is, where that beats
   * `send` of its serialized form (a session on an I/O thread: the delivery
   * crosses once per thread, not once per recipient).
   */
  deliver?(delivery: Delivery, jid: string): void;
}

export class SessionTable<S extends BoundSession = BoundSession> {
  private readonly byFullJid = new Map<string, S>();
  private readonly byBareJid = new Map<string, Set<S>>();

  get(fullJid: string): S | undefined {
    return this.byFullJid.get(fullJid);
  }

  /** All sessions of an account, in bind order. */
  resources(bareJid: string): Iterable<S> {
    return this.byBareJid.get(bareJid) ?? [];
  }

  /** How many sessions the account has bound. */
  resourceCount(bareJid: string): number {
    return this.byBareJid.get(bareJid)?.size ?? 0;
  }

  availableResources(bareJid: string): S[] {
    return [...this.resources(bareJid)].filter((session) => session.available);
  }

  /** Where a chat or normal message to the bare JID goes: the available resources of the highest non-negative priority. */
  messageTargets(bareJid: string): S[] {
    let best = 0;
    let targets: S[] = [];
    for (const session of this.resources(bareJid)) {
      if (!session.available || session.priority < best) continue;
      if (session.priority > best) targets = [];
      best = session.priority;
      targets.push(session);
    }
    return targets;
  }

  /** Adds the session; the caller must have removed any session with the same full JID. */
  add(session: S): void {
    if (this.byFullJid.has(session.fullJid)) throw new Error(`${session.fullJid} is already bound`);
    this.byFullJid.set(session.fullJid, session);
    let resources = this.byBareJid.get(session.bareJid);
    if (!resources) this.byBareJid.set(session.bareJid, (resources = new Set()));
    resources.add(session);
  }

  /** Removes the session if it is the one bound to its full JID. */
  remove(session: S): void {
    if (this.byFullJid.get(session.fullJid) !== session) return;
    this.byFullJid.delete(session.fullJid);
    const resources = this.byBareJid.get(session.bareJid);
    resources?.delete(session);
    if (resources?.size === 0) this.byBareJid.delete(session.bareJid);
  }
}
