// One simulated XMPP client of the load generator: a raw TCP socket, SASL
// PLAIN or ANONYMOUS, resource binding, and MUC join/leave/groupchat. A
// mobile client also says it is inactive (XEP-0352) once in its room, and may
// enable stream management (XEP-0198) to resume its session after its
// connection drops (`reconnect`).
//
// The generator must cost far less than the server it measures, so a client
// reads through the socket's `onread` option into one buffer shared by every
// client of the process (no Buffer and no stream machinery per read), and
// negotiation and presence handling convert only the few stanzas they need to
// strings; the steady state, a flood of groupchat messages, never does: it
// finds the body marker with Buffer.indexOf and reads two numbers after it.

import { connect, type Socket } from 'node:net';
import { monotonicMicros } from './latency.js';
import { StanzaScanner, type StanzaSink } from './stanza-scanner.js';

export type AuthMechanism = 'plain' | 'anonymous';

/** `inactive`: client state indication once in the room; `resumable`: that, and stream management with resumption. */
export type MobileMode = 'inactive' | 'resumable';

/** Where the clients connect and how they log in. */
export interface ServerAddress {
  host: string;
  port: number;
  domain: string;
  mucDomain: string;
  auth: AuthMechanism;
  password: string;
  /**
   * The nodes of a cluster: client `id` connects to `spread[id % length]`
   * instead of host and port, so a room's occupants are on every node.
   */
  spread?: readonly Endpoint[];
}

export interface Endpoint {
  host: string;
  port: number;
}

/** Where client `id` connects: round-robin over the spread, if any. */
export function addressFor(server: ServerAddress, id: number): ServerAddress {
  const spread = server.spread ?? [];
  return spread.length === 0 ? server : { ...server, ...spread[id % spread.length]! };
}

/** Receives what the traffic phase measures. */
export interface DeliverySink {
  delivered(step: number, latencyMicros: number): void;
}

/**
 * Marks a benchmark body: `~cb:STEP:SENT_MICROS:padding`. Only messages carrying
 * it are counted, so subjects, errors or anything else a server sends are not.
 */
const BODY_MARKER = Buffer.from('~cb:');
const FROM_ATTRIBUTE = Buffer.from(' from=');
const GT = 0x3e;
const COLON = 0x3a;
const DIGIT_ZERO = 0x30;
const LETTER_E = 0x65;
const LETTER_M = 0x6d;
const LETTER_P = 0x70;

/** Every socket of the process reads into it; a read is scanned before the next one. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

const MUC_NS = 'http://jabber.org/protocol/muc';
const SM_NS = 'urn:xmpp:sm:3';
const LETTER_I = 0x69;
const LETTER_R = 0x72;
const OPERATION_TIMEOUT_MS = 120_000;
/**
 * Refusals that pass: a room still locked by the client creating it (Prosody
 * answers item-not-found) and a busy room (resource-constraint).
 */
const JOIN_RETRY_CONDITIONS = /<(item-not-found|resource-constraint)\b/;
const JOIN_RETRY_DELAY_MS = 25;
/** Attributes of an opening tag: the value is group 2. */
const TYPE = /\stype=(['"])(.*?)\1/;
const ID = /\sid=(['"])(.*?)\1/;

type Phase = 'idle' | 'negotiating' | 'ready' | 'joining' | 'configuring' | 'joined' | 'leaving' | 'closed';

interface Pending {
  resolve(): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class LoadClient implements StanzaSink {
  private socket: Socket | null = null;
  private scanner = new StanzaScanner(this);
  private phase: Phase = 'idle';
  private pending: Pending | null = null;
  private authenticated = false;
  private sessionRequired = false;
  /** Arrival time of the chunk being scanned: every stanza in it arrived then. */
  private arrivedAt = 0;
  /** Messages sent before this are history replayed on join, not deliveries. */
  private joinRequestedAt = 0;
  private occupantJid = '';
  private occupantJidBytes = Buffer.alloc(0);
  private messagePrefix = '';
  private messageSuffix = '';
  /** Stream management's resumption id once enabled, and the stanzas received since (its h). */
  private resumptionId = '';
  private handled = 0;
  /** The features of the stream after authentication, kept for a bind after a failed resumption. */
  private boundFeatures = '';
  /** The last reconnection resumed the session (no rejoin needed). */
  private resumed = false;
  roomJid = '';

  constructor(
    private readonly server: ServerAddress,
    private readonly username: string,
    readonly nick: string,
    private readonly sink: DeliverySink,
    private readonly onClose: (client: LoadClient) => void,
    private readonly mobile?: MobileMode,
  ) {}

  get isJoined(): boolean {
    return this.phase === 'joined';
  }

  get isOpen(): boolean {
    return this.phase !== 'closed' && this.phase !== 'idle';
  }

  /** Connects, authenticates and binds a resource. */
  connect(): Promise<void> {
    const operation = this.begin('negotiating', 'connect');
    const socket = connect({
      host: this.server.host,
      port: this.server.port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (length) => {
          this.arrivedAt = monotonicMicros();
          this.scanner.push(READ_BUFFER.subarray(0, length));
          return true;
        },
      },
    });
    this.socket = socket;
    socket.on('connect', () => this.openStream());
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => {
      this.fail('connection closed');
      this.phase = 'closed';
      this.onClose(this);
    });
    return operation;
  }

  /**
   * The connection drops without a word (a phone losing its network), and the
   * client connects again at once: a resumable one resumes its session, any
   * other (or one whose resumption fails) logs in and joins its room again.
   * Resolves once it is back in the room: true when it resumed.
   */
  async reconnect(): Promise<boolean> {
    const dropped = this.socket;
    dropped?.removeAllListeners('close');
    dropped?.destroy();
    this.scanner = new StanzaScanner(this);
    this.authenticated = false;
    this.resumed = false;
    this.phase = 'idle';
    await this.connect();
    if (this.resumed) return true;
    await this.join(this.roomJid);
    // A new session starts active: a phone still in its pocket says so again (a resumed one kept its state).
    this.becomeInactive();
    return false;
  }

  /** Client state indication: the client is not looking (a mobile one, once in its room). */
  becomeInactive(): void {
    if (this.mobile !== undefined) this.write(`<inactive xmlns='urn:xmpp:csi:0'/>`);
  }

  /** Enters a room; resolves on the self-presence (and, for a new room, its unlocking). */
  join(roomJid: string): Promise<void> {
    const operation = this.begin('joining', 'join');
    this.roomJid = roomJid;
    this.occupantJid = `${roomJid}/${this.nick}`;
    this.occupantJidBytes = Buffer.from(this.occupantJid);
    this.messagePrefix = `<message to='${roomJid}' type='groupchat'><body>~cb:`;
    this.joinRequestedAt = monotonicMicros();
    this.sendJoinPresence();
    return operation;
  }

  /** Leaves the room; resolves on the self-presence of type unavailable. */
  leave(): Promise<void> {
    const operation = this.begin('leaving', 'leave');
    this.write(`<presence to='${this.occupantJid}' type='unavailable'/>`);
    return operation;
  }

  /** Sends an owner's request to the room (`payload` inside an iq set); resolves on its result. */
  changeRoom(payload: string): Promise<void> {
    const operation = this.begin('configuring', 'room change');
    this.write(`<iq type='set' to='${this.roomJid}' id='change'>${payload}</iq>`);
    return operation;
  }

  /** Sets the filler that brings a message body to about `bodyBytes`. */
  setBodySize(bodyBytes: number): void {
    this.messageSuffix = `:${'x'.repeat(Math.max(0, bodyBytes - 24))}</body></message>`;
  }

  /** Sends a marked message; false when the socket's buffer is full (see whenWritable). */
  sendGroupchat(step: number): boolean {
    return this.write(`${this.messagePrefix}${step}:${Math.round(monotonicMicros())}${this.messageSuffix}`);
  }

  /** Resolves once the socket's buffer has drained, or the connection is gone. */
  whenWritable(): Promise<void> {
    const socket = this.socket;
    if (!socket || !socket.writable || !socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  /**
   * Closes the stream; the connection ends once the server has closed its own
   * (RFC 6120 §4.4), so that the server, which closes first, keeps the TIME_WAIT
   * socket rather than the generator's ephemeral ports.
   */
  close(): void {
    this.write('</stream:stream>');
  }

  destroy(): void {
    this.socket?.destroy();
  }

  // StanzaSink

  streamHeader(): void {
    // Nothing to check: the features that follow tell what to do next.
  }

  streamEnd(): void {
    if (this.socket?.writableEnded === false) this.socket.end();
  }

  stanza(bytes: Buffer, start: number, end: number): void {
    const first = bytes[start + 1];
    if (this.resumptionId !== '') {
      if (first === LETTER_M || first === LETTER_P || first === LETTER_I) this.handled++;
      else if (first === LETTER_R && bytes[start + 2] !== LETTER_E) {
        // <r/>: the server asks how many stanzas we handled.
        this.write(`<a xmlns='${SM_NS}' h='${this.handled}'/>`);
        return;
      }
    }
    if (first === LETTER_M) {
      this.message(bytes, start, end);
      return;
    }
    if (first === LETTER_P) {
      // Most presences are other occupants' (the occupant list, others joining):
      // they are skipped before any string is made.
      if ((this.phase === 'joining' || this.phase === 'leaving') && this.fromOccupant(bytes, start, end)) {
        this.presence(bytes.toString('utf8', start, end));
      }
      return;
    }
    if (this.phase === 'negotiating' || this.phase === 'configuring') this.negotiate(bytes.toString('utf8', start, end));
    else if (bytes.toString('latin1', start, start + 13) === '<stream:error') {
      this.fail(`stream error: ${bytes.toString('utf8', start, end)}`);
    }
  }

  private message(bytes: Buffer, start: number, end: number): void {
    const marker = bytes.indexOf(BODY_MARKER, start);
    if (marker < 0 || marker >= end) return;
    let i = marker + BODY_MARKER.length;
    let step = 0;
    for (let c = bytes[i]!; c !== COLON; c = bytes[++i]!) step = step * 10 + (c - DIGIT_ZERO);
    let sentAt = 0;
    for (let c = bytes[++i]!; c !== COLON; c = bytes[++i]!) sentAt = sentAt * 10 + (c - DIGIT_ZERO);
    if (sentAt < this.joinRequestedAt) return;
    this.sink.delivered(step, this.arrivedAt - sentAt);
  }

  /** Whether the opening tag of bytes[start, end) says from='this occupant' (or from="…"). */
  private fromOccupant(bytes: Buffer, start: number, end: number): boolean {
    const attribute = bytes.indexOf(FROM_ATTRIBUTE, start);
    if (attribute < 0 || attribute > bytes.indexOf(GT, start)) return false;
    const value = attribute + FROM_ATTRIBUTE.length + 1;
    const valueEnd = value + this.occupantJidBytes.length;
    return (
      valueEnd < end &&
      bytes[valueEnd] === bytes[value - 1] &&
      bytes.compare(this.occupantJidBytes, 0, this.occupantJidBytes.length, value, valueEnd) === 0
    );
  }

  private presence(text: string): void {
    const head = text.slice(0, text.indexOf('>'));
    const type = TYPE.exec(head)?.[2];
    if (this.phase === 'leaving') {
      if (type === 'unavailable') this.settle('ready');
      return;
    }
    if (type === 'error') {
      if (JOIN_RETRY_CONDITIONS.test(text)) setTimeout(() => this.sendJoinPresence(), JOIN_RETRY_DELAY_MS);
      else this.fail(`join refused: ${text}`);
      return;
    }
    // An unavailable self-presence is not the answer to the join: it is the
    // room seeing off the session this one replaced (same full JID), whose
    // leave the room handled after this session was bound. Taken for the
    // answer, it left the client believing it had joined a room that was still
    // locked, or never configuring the room it had just created.
    if (type === 'unavailable' || !/code=['"]110['"]/.test(text)) return;
    if (/code=['"]201['"]/.test(text)) {
      // A new room: accept the default configuration, as XEP-0045 §10.1.2 describes.
      this.phase = 'configuring';
      this.write(
        `<iq type='set' to='${this.roomJid}' id='create'><query xmlns='${MUC_NS}#owner'>` +
          `<x xmlns='jabber:x:data' type='submit'/></query></iq>`,
      );
      return;
    }
    this.settle('joined');
  }

  private negotiate(text: string): void {
    if (text.startsWith('<stream:features')) {
      if (!this.authenticated) this.authenticate(text);
      else if (this.resumptionId !== '') {
        this.boundFeatures = text;
        this.write(`<resume xmlns='${SM_NS}' previd='${this.resumptionId}' h='${this.handled}'/>`);
      } else this.bind(text);
      return;
    }
    if (text.startsWith('<enabled')) {
      this.resumptionId = ID.exec(text)?.[2] ?? '';
      this.handled = 0;
      this.settle('ready');
      return;
    }
    if (text.startsWith('<resumed')) {
      this.resumed = true;
      this.settle('joined');
      return;
    }
    if (text.startsWith('<failed')) {
      // Not resumed (too late, or another server's choice): a new session, which rejoins.
      this.resumptionId = '';
      this.bind(this.boundFeatures);
      return;
    }
    if (text.startsWith('<success')) {
      this.authenticated = true;
      this.openStream();
      return;
    }
    if (text.startsWith('<iq')) {
      const head = text.slice(0, text.indexOf('>'));
      const id = ID.exec(head)?.[2];
      const failed = TYPE.exec(head)?.[2] !== 'result';
      if (id === 'create' || (id === 'change' && !failed)) this.settle('joined');
      else if (failed) this.fail(`${id} failed: ${text}`);
      else if (id === 'bind' && this.sessionRequired) this.write(`<iq type='set' id='session'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`);
      else if ((id === 'bind' || id === 'session') && this.mobile === 'resumable' && this.resumptionId === '') {
        this.write(`<enable xmlns='${SM_NS}' resume='true'/>`);
      } else if (id === 'bind' || id === 'session') this.settle('ready');
      return;
    }
    this.fail(`negotiation failed: ${text}`);
  }

  private authenticate(features: string): void {
    if (/<starttls[^>]*>\s*<required/.test(features)) {
      this.fail('the server requires STARTTLS, which the load generator does not do');
      return;
    }
    const mechanism = this.server.auth.toUpperCase();
    if (!features.includes(`>${mechanism}<`)) {
      this.fail(`the server does not offer SASL ${mechanism}: ${features}`);
      return;
    }
    const response =
      this.server.auth === 'plain'
        ? Buffer.from(`\0${this.username}\0${this.server.password}`).toString('base64')
        : '=';
    this.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='${mechanism}'>${response}</auth>`);
  }

  private bind(features: string): void {
    // RFC 3921 servers require a session; RFC 6121 ones mark it optional or omit it.
    const session = /<session\b[^>]*xmpp-session[^>]*?(\/>|>[\s\S]*?<\/session>)/.exec(features);
    this.sessionRequired = session !== null && !session[0].includes('<optional');
    this.write(
      `<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>`,
    );
  }

  private openStream(): void {
    this.write(
      `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' ` +
        `to='${this.server.domain}' version='1.0'>`,
    );
  }

  private sendJoinPresence(): void {
    if (this.phase !== 'joining') return;
    this.write(`<presence to='${this.occupantJid}'><x xmlns='${MUC_NS}'><history maxstanzas='0'/></x></presence>`);
  }

  /**
   * Writes unless the socket has ended (a write after the end would only make
   * an error); false when the socket's buffer is full or the socket is gone.
   */
  private write(text: string): boolean {
    return this.socket?.writable === true && this.socket.write(text);
  }

  private begin(phase: Phase, what: string): Promise<void> {
    if (this.pending) return Promise.reject(new Error(`${what} while another operation is under way`));
    if (this.phase === 'closed') return Promise.reject(new Error(`${what} on a closed connection`));
    this.phase = phase;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(`${what} timed out`), OPERATION_TIMEOUT_MS);
      this.pending = { resolve, reject, timer };
    });
  }

  private settle(phase: Phase): void {
    this.phase = phase;
    const pending = this.pending;
    if (!pending) return;
    this.pending = null;
    clearTimeout(pending.timer);
    pending.resolve();
  }

  /** Rejects the operation under way, if any; an Error is made only then (a closing socket calls this too). */
  private fail(reason: Error | string): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = null;
    clearTimeout(pending.timer);
    pending.reject(typeof reason === 'string' ? new Error(reason) : reason);
  }
}
