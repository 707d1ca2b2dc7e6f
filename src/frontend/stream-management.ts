// Stream management (XEP-0198) for one client session: the counts of
// stanzas handled each way, the stanzas sent and not yet acknowledged, and
// resumption. The session (c2s-session.ts) calls in at five points: the
// stream features after authentication, an SM element before or after
// binding, each stanza it receives or sends, and the loss of its connection.
//
// Resumption keeps the session itself: while its client is away the session
// hibernates, still bound, still in its rooms (no unavailable, no rejoin), and
// what is sent to it waits in its unacknowledged queue. The client's new
// connection authenticates, then the hibernating session takes that
// connection over and replays what the client did not acknowledge.
//
// Resumable sessions are found in a registry per listener context, which is
// per thread. With I/O threads the kernel may hand the new connection to
// another thread than the session's, and a socket cannot change threads: the
// session moves instead (io-threads.ts), its state (these counters and
// queue among it) carried over as `SmState`.
//
// While the session is away its queue collapses presences: a presence
// (available or unavailable) from a JID that has a newer one queued behind it
// is dropped, as client state indication does for an inactive client, so that
// a client away in a busy room comes back to each occupant's latest presence
// rather than to the room's whole churn. Only stanzas never written to a
// socket are dropped, and that leaves h right: the client counts what it
// received, which is a prefix of what was written; a stanza never written has
// a number no client has counted, so removing it (and counting one stanza
// fewer sent) renumbers only stanzas nobody has counted either. Messages are
// never dropped. The latest presence of each JID does not count against
// `max_unacked_stanzas` (there is one per occupant of the client's rooms,
// however long it is away); the bytes queued do count against
// `max_queued_bytes`.

import { randomUUID } from 'node:crypto';
import { jidDomain } from '../jid/jid.js';
import type { Element } from '../xml/element.js';
import { startTagAttribute, topLevelElements } from '../xml/serialized.js';
import { delayed } from '../xmpp/delay.js';
import { NS_STANZAS } from '../xmpp/namespaces.js';

export const SM_NS = 'urn:xmpp:sm:3';

/** XEP-0198's h wraps at 2^32. */
const H_MODULUS = 2 ** 32;

/** The feature offered after authentication. */
export const SM_FEATURE = `<sm xmlns='${SM_NS}'/>`;

/** What stream management holds for a session that moves to another thread. */
export interface SmState {
  received: number;
  sent: number;
  acked: number;
  unacked: string[];
  unackedAt: number[];
  /** Stanzas written to a socket, modulo 2^32: those after it may collapse. */
  written: number;
  timeoutSeconds: number;
  id: string;
}

/** What stream management needs of its session. */
export interface ManagedSession {
  readonly bareJid: string;
  /** Writes a nonza to the client's current connection: it is not a stanza and is not counted. */
  writeNonza(xml: string): void;
  streamError(condition: string, text?: string): void;
}

export class StreamManagement<S extends ManagedSession = ManagedSession> {
  /** Stanzas received from the client, modulo 2^32: our h. */
  private received = 0;
  /** Stanzas sent to the client, modulo 2^32. */
  private sent = 0;
  /** The client's last h: stanzas of ours it acknowledged, modulo 2^32. */
  private acked = 0;
  /** Stanzas handed to a socket, modulo 2^32: the client may have counted these, and no more. */
  private written = 0;
  /** Stanzas sent and not yet acknowledged, oldest first, as serialized; '' where a presence was superseded while away. */
  private readonly unacked: string[] = [];
  /** When each of `unacked` was sent (ms since the epoch): a replay stamps it with that time (XEP-0203). */
  private readonly unackedAt: number[] = [];
  /** The characters `unacked` holds. */
  private unackedLength = 0;
  /**
   * While the client is away: where in `unacked` the latest unwritten
   * presence from each JID is, so that the next one from the JID supersedes it.
   */
  private latestPresence: Map<string, number> | undefined;
  /** The superseded ('') entries of `unacked`. */
  private superseded = 0;
  /** An <r/> is out and its <a/> has not come back. */
  private ackRequested = false;
  /**
   * The oldest unacknowledged stanzas no longer kept, past `max_unacked_stanzas`
   * while the client was connected: a resumption could not replay them, so
   * none is possible until the client has acknowledged them (as in Prosody).
   */
  private dropped = 0;
  /** The client, away, missed more than the queue may hold: the session can no longer be resumed and must end. */
  private overflowed = false;

  private constructor(
    private readonly session: S,
    private readonly maxUnacked: number,
    private readonly maxUnackedLength: number,
    /** How long the session waits for a resumption once its connection is lost. */
    readonly timeoutSeconds: number,
    /** The resumption id, registered while the session may be resumed. */
    readonly id: string | undefined,
    private readonly registry: Map<string, S>,
  ) {}

  /**
   * <enable/> from a bound session: stream management starts, resumable when
   * the client asks, `resumption_timeout` is not 0 and the session may be
   * resumed at all (`resumable`: a guest logs in as a new JID each time, so
   * nothing could resume its session, which ends with its connection).
   */
  static enable<S extends ManagedSession>(
    session: S,
    element: Element,
    settings: { resumption_timeout: number; max_unacked_stanzas: number; max_queued_bytes: number },
    registry: Map<string, S> | undefined,
  ): StreamManagement<S> {
    const asked = element.attrs.resume === 'true' || element.attrs.resume === '1';
    const resume = asked && settings.resumption_timeout > 0 && registry !== undefined;
    const id = resume ? randomUUID() : undefined;
    // The client may ask for less time than we allow (its 'max'), not more.
    const maxAsked = /^\d{1,9}$/.test(element.attrs.max ?? '') ? Number(element.attrs.max) : Infinity;
    const timeout = Math.min(settings.resumption_timeout, maxAsked);
    const sm = new StreamManagement(session, settings.max_unacked_stanzas, settings.max_queued_bytes, timeout, id, registry ?? new Map());
    if (id !== undefined) registry!.set(id, session);
    const resumeAttributes = id === undefined ? '' : ` id='${id}' resume='true' max='${Math.ceil(timeout)}'`;
    session.writeNonza(`<enabled xmlns='${SM_NS}'${resumeAttributes}/>`);
    return sm;
  }

  /** A session moved from another thread (`state`, from `handOver` there) resumes here, resumable under the same id. */
  static adopt<S extends ManagedSession>(session: S, state: SmState, settings: { max_unacked_stanzas: number; max_queued_bytes: number }, registry: Map<string, S>): StreamManagement<S> {
    const sm = new StreamManagement(session, settings.max_unacked_stanzas, settings.max_queued_bytes, state.timeoutSeconds, state.id, registry);
    sm.received = state.received;
    sm.sent = state.sent;
    sm.acked = state.acked;
    sm.written = state.written;
    for (const stanza of state.unacked) {
      sm.unacked.push(stanza);
      sm.unackedLength += stanza.length;
    }
    sm.unackedAt.push(...state.unackedAt);
    registry.set(state.id, session);
    return sm;
  }

  /** The state to carry to another thread; the session can no longer be resumed here. */
  handOver(): SmState {
    this.ended();
    this.compact();
    const { received, sent, acked, written, unacked, unackedAt, timeoutSeconds } = this;
    return { received, sent, acked, written, unacked, unackedAt, timeoutSeconds, id: this.id! };
  }

  /** Whether a resumption can take the session up again. */
  get resumable(): boolean {
    return this.id !== undefined && !this.overflowed && this.dropped === 0 && this.registry.get(this.id) === this.session;
  }

  /** A stanza from the client was handled (counted on receipt, as Prosody does). */
  stanzaReceived(): void {
    this.received = (this.received + 1) % H_MODULUS;
  }

  /** Serialized stanzas (one or more) go to the client; `stanzas` is `xml` split, when the caller has it. */
  stanzasSent(xml: string, stanzas = topLevelElements(xml)): void {
    this.sent = (this.sent + stanzas.length) % H_MODULUS;
    if (this.overflowed) return;
    const now = Date.now();
    for (const stanza of stanzas) {
      this.unacked.push(stanza);
      this.unackedAt.push(now);
      this.unackedLength += stanza.length;
      if (this.latestPresence) this.supersede(this.unacked.length - 1);
    }
    // The latest presence of each JID while away is not counted (the top of this file says why).
    const counted = this.unacked.length - this.superseded - (this.latestPresence?.size ?? 0);
    if (counted <= this.maxUnacked && this.unackedLength <= this.maxUnackedLength) return;
    if (this.latestPresence) this.overflow();
    else this.dropOldest();
  }

  /** Everything sent so far has been handed to the socket. */
  stanzasWritten(): void {
    this.written = this.sent;
  }

  /** The client's connection is lost: nothing is written until it resumes, and presences collapse meanwhile. */
  away(): void {
    if (this.overflowed) return;
    this.latestPresence = new Map();
    const unwritten = (this.sent - this.written + H_MODULUS) % H_MODULUS;
    for (let index = this.unacked.length - unwritten; index < this.unacked.length; index++) this.supersede(index);
  }

  /** True when the session, hibernating, can no longer be resumed and must end. */
  get lost(): boolean {
    return this.overflowed;
  }

  /**
   * An <r/> for the end of this turn's output, when one is due: as Prosody
   * does, after any unacknowledged stanza while the client is active, and
   * only once half the queue waits while it is inactive (XEP-0352).
   */
  ackRequest(inactive: boolean): string | undefined {
    if (this.ackRequested || this.unacked.length < (inactive ? this.maxUnacked >> 1 : 1)) return undefined;
    this.ackRequested = true;
    return `<r xmlns='${SM_NS}'/>`;
  }

  /** An SM element on a bound stream. */
  handle(element: Element): void {
    switch (element.name) {
      case 'r':
        return this.session.writeNonza(`<a xmlns='${SM_NS}' h='${this.received}'/>`);
      case 'a':
        this.ackRequested = false;
        this.acknowledge(element.attrs.h);
        return;
      case 'enable':
        return this.session.writeNonza(failed('unexpected-request'));
      case 'resume':
        return this.session.writeNonza(failed('unexpected-request'));
      default:
        return this.session.streamError('unsupported-stanza-type', `<${element.name}/> is not a stream management element`);
    }
  }

  /**
   * <resume/> reached this (hibernating or still connected) session from the
   * client's new connection: applies the client's h and returns <resumed/>
   * followed by every stanza it has not acknowledged, stamped with the time
   * it was first sent, or undefined when h is wrong (the session has ended
   * then).
   */
  resume(h: string | undefined, previd: string): string | undefined {
    if (!this.acknowledge(h)) return undefined;
    this.ackRequested = false;
    this.compact();
    const domain = jidDomain(this.session.bareJid);
    const replayed = this.unacked.map((stanza, index) => delayed(stanza, domain, this.unackedAt[index]!));
    return `<resumed xmlns='${SM_NS}' h='${this.received}' previd='${previd}'/>` + replayed.join('');
  }

  /** The session ended: it can no longer be resumed. */
  ended(): void {
    if (this.id !== undefined && this.registry.get(this.id) === this.session) this.registry.delete(this.id);
  }

  /** Drops what the client's h acknowledges; a wrong h ends the session (XEP-0198 §4). */
  private acknowledge(h: string | undefined): boolean {
    const value = h !== undefined && /^\d{1,10}$/.test(h) ? Number(h) : H_MODULUS;
    if (value >= H_MODULUS) {
      this.session.streamError('invalid-xml', "Missing or invalid 'h' attribute");
      return false;
    }
    const count = (value - this.acked + H_MODULUS) % H_MODULUS;
    const waiting = (this.sent - this.acked + H_MODULUS) % H_MODULUS;
    // Behind what was acknowledged already (a stale or repeated <a/>, which @xmpp/client sends as it closes): nothing new.
    if (count >= H_MODULUS / 2) return true;
    if (count > waiting) {
      // XEP-0198 names the condition <handled-count-too-high/>; the stream error's text says it.
      this.session.streamError('undefined-condition', `handled-count-too-high: h is ${value}, ${waiting} stanzas were unacknowledged`);
      return false;
    }
    const forgotten = Math.min(count, this.dropped);
    this.dropped -= forgotten;
    for (const stanza of this.unacked.splice(0, count - forgotten)) this.unackedLength -= stanza.length;
    this.unackedAt.splice(0, count - forgotten);
    this.acked = value;
    return true;
  }

  /**
   * The unwritten stanza at `index` is a presence from a JID whose previous
   * unwritten presence is queued: that one is superseded. Error presences
   * answer the client and subscription requests ask it something: they stay.
   */
  private supersede(index: number): void {
    const stanza = this.unacked[index]!;
    if (!stanza.startsWith('<presence')) return;
    const type = startTagAttribute(stanza, 'type');
    const from = startTagAttribute(stanza, 'from');
    if ((type !== undefined && type !== 'unavailable') || from === undefined) return;
    const previous = this.latestPresence!.get(from);
    if (previous !== undefined) {
      this.unackedLength -= this.unacked[previous]!.length;
      this.unacked[previous] = '';
      this.superseded++;
      this.sent = (this.sent - 1 + H_MODULUS) % H_MODULUS;
      // Deleted first so that the key kept is the new stanza's, not a slice that keeps the old one alive.
      this.latestPresence!.delete(from);
    }
    this.latestPresence!.set(from, index);
  }

  /** The client is back (or the session moves): superseded entries go, and presences stop collapsing. */
  private compact(): void {
    this.latestPresence = undefined;
    if (this.superseded === 0) return;
    let kept = 0;
    for (let index = 0; index < this.unacked.length; index++) {
      if (this.unacked[index] === '') continue;
      this.unacked[kept] = this.unacked[index]!;
      this.unackedAt[kept++] = this.unackedAt[index]!;
    }
    this.unacked.length = this.unackedAt.length = kept;
    this.superseded = 0;
  }

  /**
   * More than `max_unacked_stanzas` (or `max_queued_bytes` of them) wait for
   * a connected client's acknowledgement: the oldest go. An inactive client is
   * asked only once half the limit waits, and client state indication may
   * release `csi_max_held` at once, so a client that acknowledges promptly can
   * pass the limit for the moment its <a/> takes.
   */
  private dropOldest(): void {
    let drop = Math.max(0, this.unacked.length - this.maxUnacked);
    let length = this.unackedLength;
    for (let index = 0; index < drop; index++) length -= this.unacked[index]!.length;
    while (drop < this.unacked.length && length > this.maxUnackedLength) length -= this.unacked[drop++]!.length;
    this.unacked.splice(0, drop);
    this.unackedAt.splice(0, drop);
    this.unackedLength = length;
    this.dropped += drop;
  }

  /** The client has missed too much while away: the queue goes, and with it resumption. */
  private overflow(): void {
    this.overflowed = true;
    this.unacked.length = 0;
    this.unackedAt.length = 0;
    this.unackedLength = 0;
    this.latestPresence = undefined;
    this.superseded = 0;
    this.ended();
  }
}

/** <failed/> with the stanza error condition XEP-0198 asks for. */
export function failed(condition: 'item-not-found' | 'unexpected-request'): string {
  return `<failed xmlns='${SM_NS}'><${condition} xmlns='${NS_STANZAS}'/></failed>`;
}

const registries = new WeakMap<object, Map<string, ManagedSession>>();

/** The resumable sessions of one listener context (one per thread), by resumption id. */
export function resumableSessions<S extends ManagedSession>(context: object): Map<string, S> {
  let registry = registries.get(context);
  if (!registry) registries.set(context, (registry = new Map()));
  return registry as Map<string, S>;
}
