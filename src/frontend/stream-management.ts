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

import { randomUUID } from 'node:crypto';
import { jidDomain } from '../jid/jid.js';
import type { Element } from '../xml/element.js';
import { topLevelElements } from '../xml/serialized.js';
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
  /** Stanzas sent and not yet acknowledged, oldest first, as serialized. */
  private readonly unacked: string[] = [];
  /** When each of `unacked` was sent (ms since the epoch): a replay stamps it with that time (XEP-0203). */
  private readonly unackedAt: number[] = [];
  /** The characters `unacked` holds. */
  private unackedLength = 0;
  /** An <r/> is out and its <a/> has not come back. */
  private ackRequested = false;
  /** More than `max_unacked_stanzas` were waiting: the stanzas are lost to a resumption, and counting goes on. */
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
    return { received: this.received, sent: this.sent, acked: this.acked, unacked: this.unacked, unackedAt: this.unackedAt, timeoutSeconds: this.timeoutSeconds, id: this.id! };
  }

  /** Whether a resumption can take the session up again. */
  get resumable(): boolean {
    return this.id !== undefined && !this.overflowed && this.registry.get(this.id) === this.session;
  }

  /** A stanza from the client was handled (counted on receipt, as Prosody does). */
  stanzaReceived(): void {
    this.received = (this.received + 1) % H_MODULUS;
  }

  /** Serialized stanzas (one or more) go to the client. */
  stanzasSent(xml: string): void {
    const stanzas = topLevelElements(xml);
    this.sent = (this.sent + stanzas.length) % H_MODULUS;
    if (this.overflowed) return;
    const now = Date.now();
    for (const stanza of stanzas) {
      this.unacked.push(stanza);
      this.unackedAt.push(now);
      this.unackedLength += stanza.length;
    }
    if (this.unacked.length > this.maxUnacked || this.unackedLength > this.maxUnackedLength) this.overflow();
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
    if (!this.overflowed) {
      for (const stanza of this.unacked.splice(0, count)) this.unackedLength -= stanza.length;
      this.unackedAt.splice(0, count);
    }
    this.acked = value;
    return true;
  }

  /**
   * The client does not acknowledge, or has missed too much while away (more
   * than `max_unacked_stanzas`, or `max_queued_bytes` of them): the queue
   * goes, and with it resumption.
   */
  private overflow(): void {
    this.overflowed = true;
    this.unacked.length = 0;
    this.unackedAt.length = 0;
    this.unackedLength = 0;
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
