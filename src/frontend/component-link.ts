// One outgoing XEP-0114 component connection (`jabber:component:accept`) to
// an XMPP server, kept up for the server's whole life: the stream header, the
// handshake (hex SHA-1 of the server's stream id and the shared secret), and
// reconnection with capped, jittered exponential backoff whenever the
// connection fails, is refused, or the server goes away, or stops answering:
// a link with nothing read for a while pings the server (XEP-0199) and is
// dropped and reconnected if the silence lasts (see LivenessTiming).
//
// Output is coalesced as for clients: everything sent during one event-loop
// turn leaves in one socket write, so the server reads all the stanzas one
// request produced for a recipient together (scansion runs rely on this).
//
// Stanzas for the actor (the sender of the request that produced them) leave
// in a later write than the others': Prosody routes one read in one pass and
// then flushes the recipients' sockets in an order of its own, while its own
// MUC, running inside the actor's read, gets the others' copies out first.
// The later write waits behind a barrier: an iq we address to our own domain,
// written after the others' stanzas. When the server routes it back to us it
// has read the others' stanzas and marked their sockets for writing, so the
// actor's copies come in a later read and their socket is flushed after.
// Nothing is reordered for any one recipient.
//
// While the link is down, stanzas wait in a bounded queue and leave once it is
// authenticated again. A link that drops while the server stays up (a network
// blip, a server-side reset) then loses nothing the rooms already committed
// to. After a server restart the recipients' sessions are gone; the server
// bounces what it cannot deliver, and the MUC removes those occupants (333).
// The bound keeps a long outage from eating memory: past it, stanzas are
// dropped, logged once per outage and counted when the link is back.

import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { Settings } from '../config/load.js';
import type { Logger } from '../log.js';
import type { Element } from '../xml/element.js';
import { escapeAttribute } from '../xml/escape.js';
import { STREAMS_NS, XmppStreamParser } from '../xml/stream-parser.js';
import { streamErrorXml } from '../xmpp/errors.js';
import { NS_PING, NS_STREAM_ERRORS } from '../xmpp/namespaces.js';

export const COMPONENT_NS = 'jabber:component:accept';

/** Reconnection delays: doubled per failed attempt up to the cap, then jittered down by up to half. */
const RECONNECT_BACKOFF_MS = { first: 250, max: 30_000 };
/** Connecting and the handshake together must not take longer (a server that accepts and then hangs). */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * How the link tells a live server from a dead one. Anything read from the
 * server proves it alive; after `idleMs` of silence an XEP-0199 ping asks for
 * an answer, and a server that stays silent for `pingTimeoutMs` more is taken
 * for dead: the socket is closed and reconnected as if it had dropped. Without
 * this a half-open link (the server's host gone, a NAT mapping dropped, a hung
 * server) shows only when TCP gives up retransmitting, many minutes later.
 */
export interface LivenessTiming {
  idleMs: number;
  pingTimeoutMs: number;
}

export const DEFAULT_LIVENESS: LivenessTiming = {
  idleMs: 30_000,
  // Long enough for a loaded server to answer (its queue for us may be deep),
  // short against the minutes TCP would take to notice.
  pingTimeoutMs: 20_000,
};
/** The ids of the iqs a link writes for itself (pings, barriers) start with this: what comes back is ours, never the rooms'. */
const OWN_ID_PREFIX = 'conclave-';
/** Characters of stanzas held while the link is down or the server does not read it; beyond, stanzas are dropped. */
const QUEUE_LIMIT_CHARS = 16 * 1024 * 1024;
/** A barrier the server has not routed back by then is given up on: the held stanzas leave anyway. */
const BARRIER_TIMEOUT_MS = 200;
/** After we close our side, how long the server has to close its side. */
const CLOSE_GRACE_MS = 2_000;

/** Why the server refused us, in words an operator can act on. */
const REFUSALS = new Map([
  ['not-authorized', 'the server refused the handshake: component.secret differs from the secret the server has for this component'],
  [
    'conflict',
    "the server will not give us the domain: another connection holds it (Prosody takes one per component: component.connections must be 1) or it is one of the server's own hosts",
  ],
  ['host-unknown', 'the server has no external component configured for this domain'],
  ['improper-addressing', 'the server did not accept the component domain in the stream header'],
]);

export interface LinkStats {
  /** Currently authenticated. */
  up: boolean;
  /** Successful handshakes so far. */
  authentications: number;
  /** Stanzas written to the server. */
  sent: number;
  /** Stanzas received from the server after the handshake. */
  received: number;
  /** Stanzas dropped because the queue was full while the link was down. */
  dropped: number;
  /** Answers to this link's liveness pings (over any link). */
  pingsAnswered: number;
  /** This link's write-order barriers the server routed back (over any link). */
  barriersBack: number;
  /** Barriers given up on after BARRIER_TIMEOUT_MS: held stanzas waited that long for nothing. */
  barriersTimedOut: number;
}

/** A stanza not yet written, with its recipient and whether that is the actor. */
interface Pending {
  xml: string;
  to: string;
  actor: boolean;
}

type State = 'connecting' | 'handshake' | 'up' | 'waiting' | 'closed';

export class ComponentLink {
  private state: State = 'waiting';
  private socket: Socket | undefined;
  /** Failed attempts since the last successful handshake. */
  private failures = 0;
  /** Why the current connection ended, once known (a stream error says more than the socket closing). */
  private endReason: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Stanzas not yet written: this turn's output while up (or behind a barrier), the queue while down. */
  private pending: Pending[] = [];
  /** Stanzas written after the barrier comes back. */
  private held: Pending[] = [];
  /** The id of the barrier iq we wait for, if any. */
  private barrier: string | undefined;
  private barriers = 0;
  private barrierTimer: NodeJS.Timeout | undefined;
  private pendingChars = 0;
  private droppedThisOutage = 0;
  private flushScheduled = false;
  /** Something was read from the server since the liveness timer last looked. */
  private receivedSinceCheck = false;
  private pings = 0;
  /** The ids of this link's pings start with this. */
  private readonly pingIdPrefix: string;
  /** The ids of this link's barriers start with this. */
  private readonly barrierIdPrefix: string;
  /** Where pings go: the server's domain, or, when `domain` is ours (client listener on), our own, which the server routes back. */
  private readonly pingTarget: string;
  private upWaiters: (() => void)[] = [];
  private readonly stats = { authentications: 0, sent: 0, received: 0, dropped: 0, pingsAnswered: 0, barriersBack: 0, barriersTimedOut: 0 };
  private readonly log: Logger;

  constructor(
    index: number,
    private readonly settings: Settings,
    log: Logger,
    /** A stanza from the server, once authenticated. */
    private readonly receive: (stanza: Element) => void,
    /** One of our own iqs (a ping's answer, a barrier) with this id came in over this link; it may be another link's. */
    private readonly ownIqReceived: (id: string) => void,
    private readonly liveness: LivenessTiming = DEFAULT_LIVENESS,
  ) {
    const { host, port } = settings.component;
    this.pingIdPrefix = `${OWN_ID_PREFIX}ping-${index}-`;
    this.barrierIdPrefix = `${OWN_ID_PREFIX}barrier-${index}-`;
    this.pingTarget = settings.client.enabled ? settings.muc.domain : settings.domain;
    this.log = log.child({ component: settings.muc.domain, link: index, server: `${host}:${port}` });
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  snapshot(): LinkStats {
    return { up: this.isUp, ...this.stats };
  }

  /** Resolves at the next successful handshake. */
  nextUp(): Promise<void> {
    return new Promise((resolve) => this.upWaiters.push(resolve));
  }

  /** Resolves once the link is authenticated: now, or at its next handshake. */
  whenUp(): Promise<void> {
    return this.isUp ? Promise.resolve() : this.nextUp();
  }

  /** Starts connecting; failures are retried until `close`. */
  open(): void {
    this.connect();
  }

  /**
   * Queues serialized XML for `to`; see the top of the file for what happens
   * while the link is down, and for why `actor`'s copies leave later.
   */
  send(xml: string, to: string, actor = false): void {
    if (this.state === 'closed') return;
    if ((this.state !== 'up' || this.socket?.writableNeedDrain) && this.pendingChars + xml.length > QUEUE_LIMIT_CHARS) {
      if (this.droppedThisOutage++ === 0) {
        this.log.warn({ queued: this.pending.length }, 'component link down or not read and its queue full: dropping stanzas until it is back');
      }
      this.stats.dropped++;
      return;
    }
    this.pending.push({ xml, to, actor });
    this.pendingChars += xml.length;
    if (this.state === 'up' && this.barrier === undefined && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Ends the stream after writing what is pending (if up), and stops reconnecting. */
  close(): Promise<void> {
    const wasUp = this.state === 'up';
    if (wasUp) this.flush(true);
    this.state = 'closed';
    clearTimeout(this.timer);
    clearTimeout(this.barrierTimer);
    const socket = this.socket;
    if (socket === undefined || socket.destroyed) return Promise.resolve();
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    if (wasUp) socket.end('</stream:stream>');
    else socket.destroy();
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    return closed;
  }

  private connect(): void {
    this.state = 'connecting';
    this.endReason = undefined;
    const { host, port } = this.settings.component;
    const socket = connect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    this.setTimer(HANDSHAKE_TIMEOUT_MS, () => this.abort(socket, 'no handshake within ' + HANDSHAKE_TIMEOUT_MS + ' ms'));
    const parser = this.newParser(socket);
    socket.on('connect', () => {
      if (this.socket !== socket || this.state !== 'connecting') return;
      this.state = 'handshake';
      socket.write(
        `<?xml version='1.0'?><stream:stream xmlns='${COMPONENT_NS}' xmlns:stream='${STREAMS_NS}'` +
          ` to='${escapeAttribute(this.settings.muc.domain)}'>`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      this.receivedSinceCheck = true;
      parser.write(chunk);
    });
    socket.on('error', (err) => (this.endReason ??= err.message));
    socket.on('close', () => this.lost(socket));
    socket.on('drain', () => this.socket === socket && this.flush());
  }

  private newParser(socket: Socket): XmppStreamParser {
    const { limits } = this.settings;
    // Events from a connection we already gave up on are ignored.
    const current = () => this.socket === socket && this.state !== 'closed';
    return new XmppStreamParser(
      {
        streamStart: (header) => current() && this.streamStart(socket, header),
        stanza: (stanza) => current() && this.element(socket, stanza),
        streamEnd: () => current() && this.abort(socket, 'the server closed the stream', '</stream:stream>'),
        error: (condition, text) => current() && this.abort(socket, `invalid XML from the server: ${text}`, streamErrorXml(condition, text)),
      },
      { maxStanzaSize: limits.max_stanza_size, maxDepth: limits.max_depth, maxAttributes: limits.max_attributes },
    );
  }

  private streamStart(socket: Socket, header: Element): void {
    const { id, xmlns } = header.attrs;
    if (xmlns !== COMPONENT_NS) return this.abort(socket, `the server answered in namespace ${xmlns}`, streamErrorXml('invalid-namespace'));
    if (id === undefined) return this.abort(socket, 'the server sent no stream id', streamErrorXml('invalid-id'));
    const token = createHash('sha1').update(id + this.settings.component.secret).digest('hex');
    socket.write(`<handshake>${token}</handshake>`);
  }

  private element(socket: Socket, element: Element): void {
    if (element.name === 'stream:error') return this.streamError(socket, element);
    if (this.state === 'handshake') {
      if (element.name === 'handshake') return this.authenticated();
      return this.abort(socket, `expected the handshake answer, got <${element.name}/>`, streamErrorXml('not-authorized'));
    }
    // A ping's answer (result, or an error from a server without XEP-0199) or a barrier is ours, not the rooms'.
    const { id, from } = element.attrs;
    const fromUsOrPingTarget = from === this.settings.muc.domain || from === this.pingTarget;
    if (element.name === 'iq' && fromUsOrPingTarget && id?.startsWith(OWN_ID_PREFIX)) return this.ownIqReceived(id);
    if (element.name !== 'message' && element.name !== 'presence' && element.name !== 'iq') {
      this.log.warn({ element: element.name }, 'ignoring an unknown element from the server');
      return;
    }
    this.stats.received++;
    this.receive(element);
  }

  private authenticated(): void {
    clearTimeout(this.timer);
    this.state = 'up';
    this.failures = 0;
    this.stats.authentications++;
    this.log.info(
      { queued: this.pending.length, dropped: this.droppedThisOutage || undefined },
      'component link authenticated',
    );
    this.droppedThisOutage = 0;
    this.barrier = undefined;
    this.flush();
    this.watchLiveness();
    for (const resolve of this.upWaiters.splice(0)) resolve();
  }

  /** The server ends the stream with an error; the connection closes after it and is retried. */
  private streamError(socket: Socket, error: Element): void {
    const condition = error.elements().find((child) => child.attrs.xmlns === NS_STREAM_ERRORS && child.name !== 'text')?.name;
    const text = error.getChildText('text', NS_STREAM_ERRORS);
    const refusal = REFUSALS.get(condition ?? '');
    // A refusal needs an operator; anything else (system-shutdown, say) is the server going away.
    if (refusal !== undefined) this.log.error({ condition, text }, refusal);
    else this.log.warn({ condition, text }, 'the server closed the link with a stream error');
    this.abort(socket, condition ?? 'stream error', '</stream:stream>');
  }

  /** Writes our last words, if any, and drops the connection; `lost` schedules the next attempt. */
  private abort(socket: Socket, reason: string, lastXml?: string): void {
    this.endReason = reason;
    if (lastXml !== undefined && !socket.destroyed) socket.end(lastXml);
    // A socket still closing is no longer ours: the next attempt does not wait for it.
    this.lost(socket);
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private lost(socket: Socket): void {
    if (this.socket !== socket || this.state === 'closed') return;
    this.socket = undefined;
    if (!socket.writableEnded) socket.destroy();
    const wasUp = this.state === 'up';
    this.failures += wasUp ? 0 : 1;
    const ceiling = Math.min(RECONNECT_BACKOFF_MS.max, RECONNECT_BACKOFF_MS.first * 2 ** this.failures);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.state = 'waiting';
    // What waited behind a barrier leaves first when the link is back.
    this.pending = this.held.concat(this.pending);
    this.held = [];
    this.barrier = undefined;
    clearTimeout(this.barrierTimer);
    const reason = this.endReason ?? 'connection closed';
    if (wasUp) this.log.warn({ reason, delay }, 'component link lost; reconnecting');
    else this.log.warn({ reason, attempt: this.failures, delay }, 'component link failed; retrying');
    this.setTimer(delay, () => this.connect());
  }

  /**
   * Writes what is pending: first every stanza not for an actor (nor after
   * one of the same recipient's held back), then, if any were held back, the
   * barrier. `all` (when closing) writes everything at once.
   */
  private readonly flush = (all = false): void => {
    this.flushScheduled = false;
    const socket = this.socket;
    if (this.state !== 'up' || socket === undefined || this.pending.length === 0) return;
    if (this.barrier !== undefined && !all) return;
    // Written when the socket drains ('drain' flushes): meanwhile it waits in `pending`, bounded.
    if (socket.writableNeedDrain && !all) return;
    let now = this.pending;
    if (!all) {
      const heldFor = new Set<string>();
      now = [];
      for (const entry of this.pending) {
        if (entry.actor || heldFor.has(entry.to)) {
          heldFor.add(entry.to);
          this.held.push(entry);
        } else now.push(entry);
      }
    } else {
      now = this.held.concat(now);
      this.held = [];
    }
    let xml = now.map((entry) => entry.xml).join('');
    if (this.held.length > 0) {
      this.barrier = `${this.barrierIdPrefix}${++this.barriers}`;
      const domain = escapeAttribute(this.settings.muc.domain);
      xml += `<iq type='result' id='${this.barrier}' from='${domain}' to='${domain}'/>`;
      const id = this.barrier;
      this.barrierTimer = setTimeout(() => {
        if (this.barrier !== id) return;
        this.stats.barriersTimedOut++;
        this.barrierBack();
      }, BARRIER_TIMEOUT_MS);
    }
    socket.write(xml);
    this.stats.sent += now.length;
    this.pending = [];
    this.pendingChars = this.held.reduce((sum, entry) => sum + entry.xml.length, 0);
  };

  /** The server has read what we wrote before the barrier: the held stanzas leave, then what came meanwhile. */
  private barrierBack(): void {
    this.barrier = undefined;
    clearTimeout(this.barrierTimer);
    const socket = this.socket;
    if (socket === undefined) return;
    const held = this.held;
    this.held = [];
    socket.write(held.map((entry) => entry.xml).join(''));
    this.stats.sent += held.length;
    this.pendingChars -= held.reduce((sum, entry) => sum + entry.xml.length, 0);
    this.flush();
  }

  /**
   * One of this link's own iqs (a ping's answer, a barrier) came back, over
   * whichever link: the server has read what we wrote here before it, so the
   * link is alive and what waits behind the barrier may leave. ejabberd routes
   * by destination, our domain, so with several links all of them come back
   * over one. False if the id is another link's.
   */
  ownIqBack(id: string): boolean {
    if (id.startsWith(this.pingIdPrefix)) {
      this.stats.pingsAnswered++;
    } else if (id.startsWith(this.barrierIdPrefix)) {
      // One that comes back after its timeout has nothing left to release.
      if (id === this.barrier) {
        this.stats.barriersBack++;
        this.barrierBack();
      }
    } else return false;
    this.receivedSinceCheck = true;
    return true;
  }

  /** Pings the server after an idle interval with nothing read, and drops the link if the silence lasts. */
  private watchLiveness(): void {
    this.receivedSinceCheck = false;
    this.setTimer(this.liveness.idleMs, () => {
      const socket = this.socket;
      if (this.state !== 'up' || socket === undefined) return;
      if (this.receivedSinceCheck) return this.watchLiveness();
      const from = escapeAttribute(this.settings.muc.domain);
      const to = escapeAttribute(this.pingTarget);
      socket.write(`<iq type='get' id='${this.pingIdPrefix}${++this.pings}' from='${from}' to='${to}'><ping xmlns='${NS_PING}'/></iq>`);
      this.setTimer(this.liveness.pingTimeoutMs, () => {
        if (this.socket !== socket || this.state !== 'up') return;
        if (this.receivedSinceCheck) return this.watchLiveness();
        this.abort(socket, `nothing from the server for ${this.liveness.pingTimeoutMs} ms after a ping`, '</stream:stream>');
      });
    });
  }

  private setTimer(ms: number, run: () => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(run, ms);
  }
}
