// One client-to-server connection (RFC 6120): the stream negotiation state
// machine (header checks, features, STARTTLS, SASL, stream restart, resource
// binding) and, once bound, the session the router delivers to.
//
// Output is coalesced: everything sent to the client during one event-loop
// turn leaves in one socket write, so a client reads all the stanzas one
// request produced for it together (the scansion runner relies on this).
//
// Flow control (issue 11). Input: the socket is not read while the session is
// over its rate (token-bucket.ts), has too many stanzas in flight to the
// shards, writes to a congested shard, or waits on an asynchronous step; what
// it sent is delayed, never dropped. Output: nothing more is written while the
// socket has not drained what it holds; the rest waits in the session's queue,
// and the client is closed only when it leaves too much unread for too long.
//
// Stream management (stream-management.ts) and client state indication
// (client-state.ts) hook in where stanzas come and go: a session whose client
// enabled resumption outlives the loss of its connection (it hibernates) and
// takes over the client's next connection when it resumes.

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Settings } from '../config/load.js';
import { jidDomain, prepJid } from '../jid/jid.js';
import type { Logger } from '../log.js';
import { authFailure, counters } from '../ops/counters.js';
import type { AccountChange } from '../store/accounts.js';
import type { Delivery } from '../runtime/protocol.js';
import { addressedTo } from '../runtime/shard-channel.js';
import { el, type Element } from '../xml/element.js';
import { escapeAttribute, escapeText } from '../xml/escape.js';
import { STREAMS_NS, XmppStreamParser, type StreamLimits } from '../xml/stream-parser.js';
import type { AuthBackend } from './auth.js';
import { errorAnswer, streamErrorXml } from '../xmpp/errors.js';
import type { LoginPacing } from './login-pacing.js';
import { startSasl, type SaslExchange, type SaslFailureCondition, type SaslStep } from './sasl.js';
import type { BoundSession, SessionTable } from './sessions.js';
import type { ClientTransport } from './transport.js';
import { TokenBucket } from './token-bucket.js';
import { NS_CLIENT as CLIENT_NS, NS_TLS as TLS_NS, NS_SASL as SASL_NS, NS_BIND as BIND_NS, NS_SESSION as SESSION_NS, NS_PING as PING_NS } from '../xmpp/namespaces.js';
import { CSI_FEATURE, CSI_NS, ClientState, type CsiState } from './client-state.js';
import { failed, resumableSessions, SM_FEATURE, SM_NS, StreamManagement, type SmState } from './stream-management.js';

const ROSTER_VERSIONING_NS = 'urn:xmpp:features:rosterver';

/** A connection must be bound this soon after it opens (Prosody waits 300 s; idle sockets cost us more). */
const NEGOTIATION_TIMEOUT_MS = 60_000;
/** After we close our side, how long the peer has to close its side before we cut it off. */
const CLOSE_GRACE_MS = 2_000;
/** Failed SASL attempts allowed on one connection. */
const MAX_SASL_FAILURES = 3;

/**
 * The sessions' flushes due at the end of this turn: one setImmediate for
 * all of them (a turn that delivers a room's message writes to every
 * occupant's socket), not one each.
 */
const dueFlushes: (() => void)[] = [];
function runDueFlushes(): void {
  for (let index = 0; index < dueFlushes.length; index++) dueFlushes[index]!();
  dueFlushes.length = 0;
}

/** What every client connection shares. */
export interface C2sContext {
  settings: Settings;
  auth: AuthBackend;
  /** Guests' logins, for streams to `auth.guest_domain` when it is set. */
  guests: AuthBackend | undefined;
  sessions: SessionTable<ClientSession>;
  /** The router, or on an I/O thread what passes the session's stanzas to it (io-thread.ts). */
  router: SessionRouter;
  /** Set when STARTTLS is configured. */
  tls: SecureContext | undefined;
  log: Logger;
  pacing: LoginPacing;
  /** On an I/O thread: resumption of sessions that hibernate on another thread (io-thread.ts). */
  elsewhere?: ResumptionElsewhere;
}

/** How an I/O thread finds a resumable session on the other threads, through the main thread. */
export interface ResumptionElsewhere {
  /** The session can be resumed under `id`: the main thread learns where to find it. */
  offered(session: ClientSession, id: string): void;
  /** `connection`, logged in to `account`, asks to resume `previd`, which is not on this thread: the answer is `adopt` or `resumeFailed`. */
  resume(connection: ClientSession, previd: string, account: string): void;
}

/** What a hibernating (or still connected) session carries to the thread its client reconnected to. */
export interface HandedOverSession {
  fullJid: string;
  accountChangesSeen: number;
  sm: SmState;
  csi: CsiState | undefined;
  inFlight: number;
  congested: number;
}

/** Where a bound session's stanzas go, and its end. */
export interface SessionRouter {
  fromClient(session: ClientSession, stanza: Element): void;
  /**
   * The session ended. When this returns a promise, the stream's last words
   * and the socket's close wait for it: the peer must not see its session
   * closed before the router has ended it (on an I/O thread, the main thread).
   */
  sessionEnded(session: ClientSession, reason?: string): Promise<void> | void;
}

export type Phase =
  /** Waiting for the client's stream header. */
  | 'header'
  /** Features sent, before authentication: STARTTLS and SASL. */
  | 'unauthenticated'
  /** Authenticated (after the restart): resource binding. */
  | 'authenticated'
  | 'bound'
  /** Bound, its connection lost: waiting for the client to resume it (XEP-0198). */
  | 'hibernating'
  | 'closed';

export class ClientSession implements BoundSession {
  fullJid = '';
  bareJid = '';
  available = false;
  priority = 0;
  presence: Element | undefined;
  readonly directedPresence = new Set<string>();

  /** A TCP socket, or a WebSocket (websocket.ts). */
  private socket: ClientTransport;
  private parser!: XmppStreamParser;
  private phase: Phase = 'header';
  private secure: boolean;
  /** The domain the client's stream is to: the server's, or the guests'. */
  private host: string;
  /** How clients of that domain log in. */
  private auth: AuthBackend;
  /** The account's bare JID once SASL succeeded. */
  private account: string | undefined;
  /** The account change log's counter when authentication began: changes up to it happened before this login. */
  private accountChangesSeen = 0;
  private sasl: SaslExchange | undefined;
  private saslFailures = 0;
  /** Our stream header for the current stream has been written. */
  private headerSent = false;
  /** Stanzas that arrived while an asynchronous step (SASL) was running. */
  private readonly backlog: Element[] = [];
  private busy = false;
  private readonly output: string[] = [];
  /** The length of what `output` holds. */
  private queued = 0;
  private flushScheduled = false;
  /** Armed while more than `max_unread_bytes` wait: the client is closed if that is still so when it fires. */
  private unreadTimer: NodeJS.Timeout | undefined;
  /** The negotiation deadline, then the idle-ping check. */
  private timer: NodeJS.Timeout | undefined;
  /** The peer sent something since the last idle check. */
  private heard = false;
  /** An idle ping is out and unanswered. */
  private pinged = false;
  private bucket: TokenBucket;
  /** Stanzas parsed from the chunk being read, charged to the bucket with it. */
  private stanzasRead = 0;
  /** Armed while reading waits for the bucket to refill. */
  private rateTimer: NodeJS.Timeout | undefined;
  /** Reasons not to read the socket now; it is read again when none is left. */
  private holds = 0;
  private inFlight = 0;
  private inFlightHeld = false;
  /** The remote address and port, for log lines. */
  private peer: string;
  /** Stream management (XEP-0198), once the client enabled it. */
  private sm: StreamManagement<ClientSession> | undefined;
  /** Client state indication (XEP-0352), once the client said anything of its state. */
  private csi: ClientState | undefined;
  /** The session this connection resumed, which owns it since. */
  private resumedBy: ClientSession | undefined;
  /** The <resume/> this connection waits on another thread's answer to. */
  private awaitedResume: Element | undefined;
  /** The shards' congestion holds on its reading, which move with the session. */
  private congested = 0;
  /** Once ended with stanzas in flight (its rooms' leaves among them): settled when the shards have handled the last. */
  private lastStanzaHandled: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(
    socket: ClientTransport,
    private readonly context: C2sContext,
  ) {
    this.socket = socket;
    this.secure = socket.encrypted === true;
    this.host = context.settings.domain;
    this.auth = context.auth;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.bucket = new TokenBucket(context.settings.client.rate.unauthenticated);
    socket.setNoDelay(true);
    this.attach(socket);
    this.timer = setTimeout(() => this.streamError('connection-timeout', 'Stream negotiation took too long'), NEGOTIATION_TIMEOUT_MS);
    this.newStream();
  }

  /** Where the connection is in its life, for /metrics. */
  get state(): Phase {
    return this.resumedBy?.state ?? this.phase;
  }

  /**
   * Queues stanzas for the client; they leave at the end of this event-loop
   * turn, unless client state indication holds them. While the client is
   * away they wait in the resumption queue, which collapses presences itself.
   */
  send(xml: string, stanzas?: string[]): void {
    if (this.phase === 'closed' || (this.phase !== 'hibernating' && this.csi?.holds(xml, stanzas))) return;
    this.transmit(xml, stanzas);
  }

  /** A shard's delivery: one stanza when it has several recipients, which spares splitting it where it is held or kept. */
  deliver(delivery: Delivery, jid: string): void {
    const xml = addressedTo(delivery, jid);
    this.send(xml, delivery.to.length > 1 ? [xml] : undefined);
  }

  /** Queues an element that is no stanza (stream management's), so not counted. */
  writeNonza(xml: string): void {
    if (this.phase !== 'closed' && this.phase !== 'hibernating') this.write(xml);
  }

  /** Stanzas past client state indication: counted and kept for a resumption, and written unless the client is away. */
  private readonly transmit = (xml: string, stanzas?: string[]): void => {
    if (this.sm) {
      this.sm.stanzasSent(xml, stanzas);
      if (this.phase === 'hibernating') {
        if (this.sm.lost) void this.ended('Too much missed while away');
        return;
      }
    }
    this.write(xml);
  };

  private write(xml: string): void {
    counters.stanzasOut.addXml(xml);
    this.output.push(xml);
    this.queued += xml.length;
    if (this.queued > this.context.settings.client.max_queued_bytes) return this.dropSlowReader();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      if (dueFlushes.push(this.flush) === 1) setImmediate(runDueFlushes);
    }
  }

  /**
   * A change from the account store's log: it ends the session when it
   * concerns this account and came after authentication began (a login to an
   * account re-created since its deletion, or with the new password, stays).
   * Conditions and texts are Prosody's.
   */
  accountChanged(change: AccountChange): void {
    if (change.bareJid !== this.account || change.sequence <= this.accountChangesSeen) return;
    if (change.kind === 'deleted') this.streamError('not-authorized', 'Account deleted');
    else this.streamError('reset', 'Password changed');
  }

  /** Closes the stream with a stream error (RFC 6120 §4.9). */
  streamError(condition: string, text?: string): void {
    if (this.resumedBy) return this.resumedBy.streamError(condition, text);
    if (this.phase === 'closed') return;
    this.context.log.debug(this.logFields({ condition, text }), 'stream error');
    if (!this.headerSent) this.output.push(this.streamHeader());
    this.finish(streamErrorXml(condition, text), text ?? condition);
  }

  /** One of its stanzas was posted to a shard. */
  stanzaPosted(): void {
    if (++this.inFlight >= this.context.settings.client.max_stanzas_in_flight && !this.inFlightHeld) {
      this.inFlightHeld = true;
      this.hold();
    }
  }

  /** A shard handled one of its stanzas; reading resumes once half of the bound is left in flight. */
  stanzaHandled(): void {
    if (--this.inFlight <= this.context.settings.client.max_stanzas_in_flight >> 1 && this.inFlightHeld) {
      this.inFlightHeld = false;
      this.release();
    }
    if (this.inFlight === 0 && this.lastStanzaHandled) {
      const ending = endingSessions(this.context);
      if (ending.get(this.fullJid) === this) ending.delete(this.fullJid);
      this.lastStanzaHandled.resolve();
    }
  }

  shardCongested(): void {
    this.congested++;
    this.hold();
  }

  shardCaughtUp(): void {
    this.congested--;
    this.release();
  }

  /**
   * The client reconnected to another thread and resumes there: the session
   * leaves this one silently (no unavailable: it lives on over there) and
   * returns what it holds, or undefined when `previd` cannot be resumed here.
   */
  handOver(previd: string): HandedOverSession | undefined {
    if (!this.sm?.resumable || resumableSessions<ClientSession>(this.context).get(previd) !== this) return undefined;
    const state = { fullJid: this.fullJid, accountChangesSeen: this.accountChangesSeen, sm: this.sm.handOver(), csi: this.csi?.handOver(), inFlight: this.inFlight, congested: this.congested };
    // An old connection the server had not seen fail yet is closed, as a resumption on this thread would.
    this.detach();
    this.socket.destroy();
    this.phase = 'closed';
    clearTimeout(this.timer);
    clearTimeout(this.unreadTimer);
    clearTimeout(this.rateTimer);
    this.context.sessions.remove(this);
    this.context.log.debug(this.logFields(), 'session handed over to another thread');
    return state;
  }

  /**
   * The session `previd` named moved here from another thread: this
   * connection becomes it, answers <resumed/> and replays what the client did
   * not acknowledge. A connection lost while it waited hibernates at once.
   */
  adopt(state: HandedOverSession): void {
    const element = this.awaitedResume!;
    this.awaitedResume = undefined;
    this.release();
    const { client } = this.context.settings;
    this.fullJid = state.fullJid;
    this.bareJid = this.account!;
    this.accountChangesSeen = state.accountChangesSeen;
    this.sm = StreamManagement.adopt(this, state.sm, client, resumableSessions<ClientSession>(this.context));
    if (state.csi) (this.csi = new ClientState(client.csi_max_held, jidDomain(this.bareJid), this.transmit)).adopt(state.csi);
    for (let i = 0; i < state.inFlight; i++) this.stanzaPosted();
    for (let i = 0; i < state.congested; i++) this.shardCongested();
    const lost = this.phase === 'closed';
    this.phase = 'bound';
    this.context.sessions.add(this);
    if (lost) return this.hibernate();
    this.restartIdleCheck();
    this.context.log.debug(this.logFields(), 'session resumed from another thread');
    const resumed = this.sm.resume(element.attrs.h, state.sm.id);
    if (resumed !== undefined) this.write(resumed);
  }

  /** No thread could hand over the session asked for. */
  resumeFailed(): void {
    this.awaitedResume = undefined;
    this.release();
    if (this.phase !== 'closed') this.write(failed('item-not-found'));
  }

  private readonly onData = (chunk: Buffer): void => {
    this.heard = true;
    this.parser.write(chunk);
    // The chunk resumed another session: the connection and its budget are that session's now.
    if (this.resumedBy) return;
    const wait = this.bucket.charge(chunk.length, this.stanzasRead);
    this.stanzasRead = 0;
    if (wait > 0 && this.rateTimer === undefined && this.phase !== 'closed') {
      this.hold();
      this.rateTimer = setTimeout(this.rateRefilled, wait);
    }
  };

  private readonly rateRefilled = (): void => {
    this.rateTimer = undefined;
    this.release();
  };

  private hold(): void {
    if (this.holds++ === 0) this.socket.pause();
  }

  private release(): void {
    if (--this.holds === 0) this.socket.resume();
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.phase === 'hibernating') return;
    const ackRequest = this.sm?.ackRequest(this.csi?.inactive ?? false);
    if (ackRequest) this.output.push(ackRequest);
    // Written when the socket drains: meanwhile it waits here, counted.
    if (this.socket.writableNeedDrain) return this.watchUnread();
    this.writeOutput();
    this.watchUnread();
  };

  private writeOutput(): void {
    if (this.output.length === 0 || this.socket.destroyed) return;
    this.socket.write(this.output.length === 1 ? this.output[0]! : this.output.join(''));
    this.sm?.stanzasWritten();
    this.output.length = 0;
    this.queued = 0;
  }

  private readonly onDrain = (): void => {
    // The client read all it had been given: what waits is no reason to close it unless it is over the bound again.
    if (this.queued <= this.context.settings.client.max_unread_bytes) {
      clearTimeout(this.unreadTimer);
      this.unreadTimer = undefined;
    }
    this.flush();
  };

  private watchUnread(): void {
    const { max_unread_bytes: max, unread_grace_seconds: grace } = this.context.settings.client;
    if (this.unreadTimer !== undefined || this.phase === 'closed' || this.unread() <= max) return;
    this.unreadTimer = setTimeout(() => {
      this.unreadTimer = undefined;
      if (this.unread() > max) this.dropSlowReader();
    }, grace * 1000);
  }

  /** What was sent to the client and not yet read: in the socket and in the queue. */
  private unread(): number {
    return this.socket.writableLength + this.queued;
  }

  private dropSlowReader(): void {
    this.context.log.info(this.logFields({ unread: this.unread() }), 'client does not read; closing');
    this.output.length = 0;
    this.queued = 0;
    this.streamError('policy-violation', 'Too much unread data');
  }

  /** A fresh parser for a new stream (at start, after STARTTLS, after SASL). */
  private newStream(): void {
    const { limits } = this.context.settings;
    const streamLimits: StreamLimits = {
      maxStanzaSize: this.account ? limits.max_stanza_size : limits.max_stanza_size_unauthenticated,
      maxDepth: limits.max_depth,
      maxAttributes: limits.max_attributes,
    };
    // Events a replaced parser still reports (for bytes that came with the
    // STARTTLS request, say) belong to the old stream and are ignored.
    const parser: XmppStreamParser = new XmppStreamParser(
      {
        streamStart: (header) => parser === this.owner.parser && this.owner.streamStart(header),
        stanza: (stanza) => parser === this.owner.parser && this.owner.parsed(stanza),
        streamEnd: () => parser === this.owner.parser && this.owner.streamEnd(),
        error: (condition, text) => parser === this.owner.parser && this.owner.streamError(condition, text),
      },
      streamLimits,
    );
    this.parser = parser;
    this.backlog.length = 0;
    this.headerSent = false;
    if (this.phase !== 'closed') this.phase = this.account ? 'authenticated' : 'header';
  }

  /** The session this connection's stream is for: this one, or the one it resumed. */
  private get owner(): ClientSession {
    return this.resumedBy ?? this;
  }

  private streamHeader(): string {
    this.headerSent = true;
    return (
      `<?xml version='1.0'?><stream:stream xmlns='${CLIENT_NS}' xmlns:stream='${STREAMS_NS}'` +
      ` id='${randomUUID()}' from='${escapeAttribute(this.host)}' version='1.0' xml:lang='en'>`
    );
  }

  private streamStart(header: Element): void {
    const { to, version, xmlns } = header.attrs;
    const host = to === undefined ? null : prepJid(to);
    // Each stream is to the server's domain or the guests'; after authentication, to the same one.
    const auth = host === this.context.settings.domain ? this.context.auth : host === this.context.guests?.guestDomain ? this.context.guests : undefined;
    if (auth && (this.account === undefined || host === this.host)) {
      this.host = host!;
      this.auth = auth;
    }
    this.send(this.streamHeader());
    if (xmlns !== CLIENT_NS) return this.streamError('invalid-namespace', `The stream namespace must be ${CLIENT_NS}`);
    if (to === undefined) return this.streamError('improper-addressing', "A 'to' attribute is required on stream headers");
    if (host === null) return this.streamError('improper-addressing', "A valid 'to' attribute is required on stream headers");
    if (host !== this.host) return this.streamError('host-unknown', `This server does not serve ${to}`);
    if (version === undefined || !/^1\.\d+$/.test(version)) {
      return this.streamError('unsupported-version', 'Only XMPP 1.0 streams are supported');
    }
    if (this.phase === 'authenticated') {
      this.send(
        `<stream:features><bind xmlns='${BIND_NS}'/><session xmlns='${SESSION_NS}'><optional/></session>` +
          `<ver xmlns='${ROSTER_VERSIONING_NS}'/>${SM_FEATURE}${CSI_FEATURE}</stream:features>`,
      );
      return;
    }
    this.phase = 'unauthenticated';
    if (this.context.tls && !this.secure) {
      // With TLS configured, authentication happens only inside it.
      this.send(`<stream:features><starttls xmlns='${TLS_NS}'><required/></starttls></stream:features>`);
      return;
    }
    const mechanisms = this.auth.mechanisms.map((name) => `<mechanism>${name}</mechanism>`).join('');
    this.send(`<stream:features><mechanisms xmlns='${SASL_NS}'>${mechanisms}</mechanisms></stream:features>`);
  }

  private streamEnd(): void {
    this.finish('</stream:stream>');
  }

  /** A top-level element from the socket: counted against the rate, then received. */
  private parsed(stanza: Element): void {
    this.stanzasRead++;
    this.receive(stanza);
  }

  /** A top-level element; handled in order, waiting behind any asynchronous step. */
  private receive(stanza: Element): void {
    counters.stanzasIn.add(stanza.name);
    if (this.busy) {
      this.backlog.push(stanza);
      return;
    }
    let pending: Promise<void> | void;
    try {
      pending = this.handle(stanza);
    } catch (err) {
      // A bug must cost this connection, not the server (nor pass for the peer's malformed XML).
      this.context.log.error(this.logFields({ err, stanza: stanza.toString() }), 'error while handling a stanza');
      return this.streamError('internal-server-error');
    }
    if (!pending) return;
    this.busy = true;
    // Nothing more is read meanwhile: the backlog holds at most what one read brought.
    this.hold();
    pending
      .catch((err: unknown) => {
        this.context.log.error(this.logFields({ err }), 'error while handling a stanza');
        this.streamError('internal-server-error');
      })
      .finally(() => {
        this.busy = false;
        this.release();
        while (!this.busy && this.backlog.length > 0 && this.phase !== 'closed') this.receive(this.backlog.shift()!);
      });
  }

  private handle(stanza: Element): Promise<void> | void {
    switch (this.phase) {
      case 'unauthenticated':
        return this.negotiate(stanza);
      case 'authenticated':
        return this.bindPhase(stanza);
      case 'bound':
        return this.routeStanza(stanza);
    }
  }

  private negotiate(element: Element): Promise<void> | void {
    const ns = element.attrs.xmlns;
    if (ns === TLS_NS && element.name === 'starttls') return this.startTls();
    if (ns !== SASL_NS) return this.streamError('not-authorized', 'Authenticate first');
    if (this.context.tls && !this.secure) return this.saslFailure('encryption-required');
    switch (element.name) {
      case 'auth': {
        // Read before the exchange reads the credentials, so that no change between the two goes unnoticed.
        this.accountChangesSeen = this.auth.accountChangeSequence();
        const mechanism = element.attrs.mechanism ?? '';
        this.sasl = startSasl(mechanism, this.auth);
        if (!this.sasl) return this.saslFailure('invalid-mechanism');
        return this.saslStep(element);
      }
      case 'response':
        if (!this.sasl) return this.saslFailure('not-authorized', 'Out of order SASL element');
        return this.saslStep(element);
      case 'abort':
        this.sasl = undefined;
        return this.saslFailure('aborted');
      default:
        return this.streamError('not-authorized', 'Authenticate first');
    }
  }

  private async saslStep(element: Element): Promise<void> {
    const text = element.text().trim();
    // RFC 6120 §6.4.2: "=" is an empty response; no text at all is no initial response.
    if (text !== '=' && text !== '' && !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
      this.sasl = undefined;
      return this.saslFailure('incorrect-encoding');
    }
    const step: SaslStep = await this.sasl!.step(Buffer.from(text === '=' ? '' : text, 'base64'));
    if (this.phase === 'closed') return;
    if (step.kind === 'challenge') {
      this.send(`<challenge xmlns='${SASL_NS}'>${step.data === '' ? '=' : b64(step.data)}</challenge>`);
      return;
    }
    this.sasl = undefined;
    if (step.kind === 'failure') {
      if (step.condition === 'not-authorized') {
        // A closed session's answer goes nowhere: send() drops it.
        await sleep(this.context.pacing.failed(step.accountJid, this.socket.remoteAddress ?? ''));
      }
      return this.saslFailure(step.condition, step.text);
    }
    this.send(`<success xmlns='${SASL_NS}'>${step.data === undefined ? '' : b64(step.data)}</success>`);
    this.account = step.accountJid;
    this.context.pacing.succeeded(step.accountJid);
    this.bucket = new TokenBucket(this.context.settings.client.rate.authenticated);
    this.context.log.debug(this.logFields(), 'authenticated');
    this.newStream();
  }

  private saslFailure(condition: SaslFailureCondition | 'encryption-required', text?: string): void {
    const textXml = text === undefined ? '' : `<text>${escapeText(text)}</text>`;
    this.send(`<failure xmlns='${SASL_NS}'><${condition}/>${textXml}</failure>`);
    authFailure(condition);
    if (condition !== 'aborted' && ++this.saslFailures >= MAX_SASL_FAILURES) {
      this.streamError('policy-violation', 'Too many failed authentication attempts');
    }
  }

  private startTls(): void {
    const { tls } = this.context;
    if (!tls || this.secure || !(this.socket instanceof Socket)) {
      this.finish(`<failure xmlns='${TLS_NS}'/></stream:stream>`, 'STARTTLS refused');
      return;
    }
    // <proceed/> must leave in the clear, before the handshake starts on the same socket.
    this.writeOutput();
    const raw = this.socket;
    raw.write(`<proceed xmlns='${TLS_NS}'/>`);
    raw.off('data', this.onData);
    const secure = new TLSSocket(raw, { isServer: true, secureContext: tls });
    secure.on('data', this.onData);
    secure.on('error', (err) => {
      this.context.log.debug(this.logFields({ err: err.message }), 'TLS error');
      secure.destroy();
    });
    this.socket = secure;
    this.secure = true;
    this.newStream();
  }

  private bindPhase(stanza: Element): Promise<void> | void {
    if (this.awaitedResume) return this.streamError('policy-violation', 'Wait for the answer to <resume/>');
    if (stanza.attrs.xmlns === SM_NS) return this.resumeSession(stanza);
    const bind = stanza.name === 'iq' && stanza.attrs.type === 'set' ? stanza.getChild('bind', BIND_NS) : undefined;
    if (!bind) return this.streamError('not-authorized', 'Bind a resource first');
    // The server's watch only reaches bound sessions: a change since authentication is checked here.
    for (const change of this.auth.accountChangesAfter(this.accountChangesSeen)) this.accountChanged(change);
    if (this.phase === 'closed') return;
    const requested = bind.getChildText('resource');
    const resource = requested === undefined || requested.trim() === '' ? randomUUID() : requested;
    const fullJid = prepJid(this.account + '/' + resource);
    if (fullJid === null) return this.bindError(stanza, 'bad-request', 'Invalid resource');
    const { max_sessions_per_account: maxSessions } = this.context.settings.client;
    const replaced = this.context.sessions.get(fullJid) === undefined ? 0 : 1;
    if (maxSessions > 0 && this.context.sessions.resourceCount(this.account!) - replaced >= maxSessions) {
      // Prosody's answer (max_resources): the bind is refused; the stream stays, and the client may close it.
      return this.bindError(stanza, 'resource-constraint', `Resource limit reached; only ${maxSessions} resources allowed`);
    }
    return this.bindResource(stanza, fullJid);
  }

  /**
   * Binds `fullJid`, replacing any session bound to it. The rooms answer the
   * leaves of a session that ended (or was just replaced) with a presence to
   * its full JID; the bind waits until they are handled, so that the answers
   * find no session rather than this one, which would take its old self's
   * unavailable for news about itself (Prosody handles them before binding).
   */
  private bindResource(stanza: Element, fullJid: string): Promise<void> | void {
    // Prosody's default: the newcomer wins and the old session is told why it goes.
    this.context.sessions.get(fullJid)?.streamError('conflict', 'Replaced by new connection');
    const leaving = endingSessions(this.context).get(fullJid);
    if (leaving) return leaving.lastStanzaHandled!.promise.then(() => this.phase === 'authenticated' ? this.bindResource(stanza, fullJid) : undefined);
    this.fullJid = fullJid;
    this.bareJid = this.account!;
    this.context.sessions.add(this);
    this.phase = 'bound';
    this.restartIdleCheck();
    const result = el('iq', { type: 'result', id: stanza.attrs.id }, el('bind', { xmlns: BIND_NS }, el('jid', {}, fullJid)));
    this.send(result.toString());
  }

  /** <resume/> before binding (XEP-0198 §5): the session it names takes this connection over. */
  private resumeSession(element: Element): void {
    if (element.name !== 'resume') return this.write(failed('unexpected-request'));
    const previd = element.attrs.previd ?? '';
    const session = resumableSessions<ClientSession>(this.context).get(previd);
    if (session === undefined && this.context.elsewhere) {
      // Perhaps on another thread: nothing more is read until it answers.
      this.awaitedResume = element;
      this.hold();
      return this.context.elsewhere.resume(this, previd, this.account!);
    }
    if (session === undefined || session.bareJid !== this.account || !session.sm!.resumable) return this.write(failed('item-not-found'));
    session.takeOver(this, element.attrs.h, previd);
  }

  /**
   * Resumption: this session takes over the socket and stream of `connection`
   * (whose client just authenticated and asked for it), answers <resumed/>
   * and sends what the client did not acknowledge. An old connection the
   * server had not seen fail yet is closed, as Prosody does.
   */
  private takeOver(connection: ClientSession, h: string | undefined, previd: string): void {
    if (this.phase === 'bound') {
      this.detach();
      this.socket.destroy();
    }
    clearTimeout(connection.timer);
    clearTimeout(connection.rateTimer);
    clearTimeout(connection.unreadTimer);
    connection.detach();
    connection.resumedBy = this;
    connection.phase = 'closed';
    this.socket = connection.socket;
    this.secure = connection.secure;
    this.parser = connection.parser;
    this.bucket = connection.bucket;
    this.peer = connection.peer;
    this.headerSent = true;
    // What waited for the old connection is in the unacknowledged queue, replayed below.
    this.output.splice(0, this.output.length, ...connection.output);
    this.queued = connection.queued;
    clearTimeout(this.unreadTimer);
    this.unreadTimer = undefined;
    this.attach(this.socket);
    // Read as this session's own reasons say, whatever the connection's were.
    if (this.holds > 0) this.socket.pause();
    else this.socket.resume();
    this.phase = 'bound';
    this.restartIdleCheck();
    this.context.log.debug(this.logFields(), 'session resumed');
    const resumed = this.sm!.resume(h, previd);
    if (resumed !== undefined) this.write(resumed);
  }

  /**
   * The connection is lost and the client may resume the session: it stays
   * bound, in its rooms, and keeps what it is sent, for `resumption_timeout`
   * seconds; then it ends as any disconnect does.
   */
  private hibernate(): void {
    this.phase = 'hibernating';
    this.detach();
    clearTimeout(this.unreadTimer);
    this.unreadTimer = undefined;
    if (this.rateTimer !== undefined) {
      // Its reading budget goes with the connection: the hold it caused ends now.
      clearTimeout(this.rateTimer);
      this.rateRefilled();
    }
    // What waited to be written is in the unacknowledged queue, to be sent again on resumption.
    this.output.length = 0;
    this.queued = 0;
    this.sm!.away();
    // What client state indication held joins it there, where presences collapse.
    this.csi?.flush();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.ended('Resumption timed out'), this.sm!.timeoutSeconds * 1000);
    this.context.log.debug(this.logFields(), 'connection lost; session hibernating');
  }

  private attach(socket: ClientTransport): void {
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onClose);
  }

  private detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('drain', this.onDrain);
    this.socket.off('error', this.onSocketError);
    this.socket.off('close', this.onClose);
  }

  private readonly onSocketError = (err: Error): void => {
    this.context.log.debug(this.logFields({ err: err.message }), 'socket error');
  };

  private readonly onClose = (): void => {
    if (this.phase === 'bound' && this.sm?.resumable) this.hibernate();
    else void this.ended('connection closed');
  };

  private bindError(stanza: Element, condition: 'bad-request' | 'resource-constraint', text: string): void {
    const error = errorAnswer(stanza, condition, text);
    if (error) this.send(error.toString());
  }

  private restartIdleCheck(): void {
    clearTimeout(this.timer);
    this.heard = false;
    this.pinged = false;
    this.timer = setTimeout(this.idleCheck, this.context.settings.client.ping_interval_seconds * 1000);
  }

  /**
   * A bound session that was silent for `ping_interval_seconds` is pinged
   * (XEP-0199); one still silent `ping_timeout_seconds` later is closed. Any
   * data counts as an answer.
   */
  private readonly idleCheck = (): void => {
    const { ping_interval_seconds: interval, ping_timeout_seconds: timeout } = this.context.settings.client;
    if (this.heard) {
      this.heard = false;
      this.pinged = false;
      this.timer = setTimeout(this.idleCheck, interval * 1000);
    } else if (!this.pinged) {
      this.pinged = true;
      const { domain } = this.context.settings;
      this.send(`<iq type='get' id='idle-${randomUUID()}' from='${escapeAttribute(domain)}' to='${escapeAttribute(this.fullJid)}'><ping xmlns='${PING_NS}'/></iq>`);
      this.timer = setTimeout(this.idleCheck, timeout * 1000);
    } else {
      this.streamError('connection-timeout', 'No answer to a ping');
    }
  };

  private routeStanza(stanza: Element): void {
    const ns = stanza.attrs.xmlns;
    if (ns === SM_NS) return this.streamManagement(stanza);
    if (ns === CSI_NS) {
      const { csi_max_held: maxHeld } = this.context.settings.client;
      if ((this.csi ??= new ClientState(maxHeld, jidDomain(this.bareJid), this.transmit)).handle(stanza)) return;
      return this.streamError('unsupported-stanza-type', `<${stanza.name}/> is not a client state element`);
    }
    if (ns !== undefined && ns !== CLIENT_NS) return this.streamError('invalid-namespace', `Unexpected namespace ${ns}`);
    if (stanza.name !== 'message' && stanza.name !== 'presence' && stanza.name !== 'iq') {
      return this.streamError('unsupported-stanza-type', `<${stanza.name}/> is not a stanza`);
    }
    delete stanza.attrs.xmlns;
    this.sm?.stanzaReceived();
    // A client that sends something is looking (Prosody's mod_csi_simple flushes on any activity too).
    this.csi?.flush();
    this.context.router.fromClient(this, stanza);
  }

  /** An SM element on the bound stream: <enable/> once, then acknowledgements. */
  private streamManagement(element: Element): void {
    if (this.sm) return this.sm.handle(element);
    if (element.name !== 'enable') return this.write(failed('unexpected-request'));
    const guest = this.host !== this.context.settings.domain;
    this.sm = StreamManagement.enable(this, element, this.context.settings.client, guest ? undefined : resumableSessions<ClientSession>(this.context));
    if (this.sm.id !== undefined) this.context.elsewhere?.offered(this, this.sm.id);
  }

  /**
   * Writes the last words of the stream, ends the session, and ends our side
   * of the TCP connection; a peer that does not close its side is cut off.
   */
  private finish(lastXml: string, reason?: string): void {
    this.output.push(lastXml);
    const routed = this.ended(reason);
    if (routed) void routed.then(this.closeSocket);
    else this.closeSocket();
  }

  private readonly closeSocket = (): void => {
    this.writeOutput();
    const socket = this.socket;
    socket.end();
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  };

  /** The session is over, whatever ended it: it leaves the table and its presence goes unavailable. */
  private ended(reason?: string): Promise<void> | void {
    if (this.phase === 'closed') return;
    const wasBound = this.phase === 'bound' || this.phase === 'hibernating';
    this.phase = 'closed';
    this.sm?.ended();
    clearTimeout(this.timer);
    clearTimeout(this.unreadTimer);
    clearTimeout(this.rateTimer);
    // Whatever else the peer sends is no longer parsed.
    this.socket.off('data', this.onData);
    let routed: Promise<void> | void = undefined;
    if (wasBound) {
      this.context.sessions.remove(this);
      routed = this.context.router.sessionEnded(this, reason);
      if (this.inFlight > 0) {
        let resolve!: () => void;
        const promise = new Promise<void>((settle) => (resolve = settle));
        this.lastStanzaHandled = { promise, resolve };
        endingSessions(this.context).set(this.fullJid, this);
      }
    }
    this.context.log.debug(this.logFields({ reason }), 'session ended');
    return routed;
  }

  /**
   * Who this connection is, merged into each log line's fields. A pino child
   * logger per connection instead kept ~1.5 KiB of heap for lines that are
   * mostly below the log level.
   */
  private logFields(fields: Record<string, unknown> = {}): Record<string, unknown> {
    return { peer: this.peer, account: this.account, jid: this.fullJid || undefined, ...fields };
  }
}

const ending = new WeakMap<object, Map<string, ClientSession>>();

/** The sessions of one listener context that ended with stanzas still in flight to the shards, by full JID. */
function endingSessions(context: object): Map<string, ClientSession> {
  let sessions = ending.get(context);
  if (!sessions) ending.set(context, (sessions = new Map()));
  return sessions;
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
