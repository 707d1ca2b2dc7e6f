// A plain-TCP XMPP client for running scripts: stream, SASL PLAIN, stream
// restart, resource binding, legacy session when the server requires it; then
// raw stanza I/O.
//
// Received stanzas are kept grouped by network read (one 'data' event), because
// the runner's "next stanza" semantics depend on which stanzas arrived together.

import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { el, type Element } from '../xml/element.js';
import { STREAMS_NS, XmppStreamParser } from '../xml/stream-parser.js';
import { NS_BIND, NS_CLIENT, NS_SASL, NS_SESSION, NS_TLS } from '../xmpp/namespaces.js';


export interface ClientOptions {
  /** Bare JID to log in as. */
  jid: string;
  password: string;
  /** Resource to ask for; the server picks one when absent. */
  resource?: string;
  host: string;
  port: number;
  /** How long each negotiation step, and the closing handshake, may take (ms). */
  timeout: number;
  /** Called with every piece of XML written and every network read, negotiation included. */
  trace?: (direction: 'sent' | 'received', xml: string) => void;
}

/** The connection cannot be (or can no longer be) used; the message says why. */
export class ConnectionError extends Error {}

export class ScansionClient {
  /** The bound full JID, once connected. */
  fullJid?: string;
  /** Why the connection broke, if it did. */
  failure?: string;
  private socket?: net.Socket;
  private socketClosed = false;
  private closing = false;
  private negotiating = true;
  private readonly parser: XmppStreamParser;
  /** Top-level elements received while negotiating the stream. */
  private negotiation: Element[] = [];
  /** Stanzas received after negotiation, one array per network read, oldest first. */
  private reads: Element[][] = [];
  /** Collects the stanzas of the network read being parsed. */
  private currentRead: Element[] = [];
  private readonly waiters = new Set<() => void>();
  /** Keeps a character split across two reads whole in the trace. */
  private readonly traceDecoder = new StringDecoder('utf8');

  constructor(private readonly options: ClientOptions) {
    this.parser = new XmppStreamParser({
      streamStart: () => {},
      stanza: (stanza) => this.onTopLevelElement(stanza),
      streamEnd: () => {
        if (!this.closing) this.fail('the server closed the stream');
      },
      error: (condition, text) => this.fail(`the server sent invalid XML (${condition}: ${text})`),
    });
  }

  /** Connects, authenticates and binds a resource; throws ConnectionError on failure. */
  async connect(): Promise<void> {
    await this.openSocket();
    const features = await this.openStream();
    const mechanisms = features.getChild('mechanisms', NS_SASL)?.getChildren('mechanism') ?? [];
    if (!mechanisms.some((mechanism) => mechanism.text().trim() === 'PLAIN')) {
      if (features.getChild('starttls', NS_TLS)) {
        throw new ConnectionError('the server offers SASL PLAIN only after STARTTLS, which the runner does not do');
      }
      const offered = mechanisms.map((mechanism) => mechanism.text().trim()).join(', ') || 'none';
      throw new ConnectionError(`the server does not offer SASL PLAIN (offered: ${offered})`);
    }
    const [localpart] = this.options.jid.split('@');
    const credentials = Buffer.from(`\0${localpart}\0${this.options.password}`).toString('base64');
    const auth = (content: string) => el('auth', { xmlns: NS_SASL, mechanism: 'PLAIN' }, content).toString();
    this.write(auth(credentials), undefined, auth('(credentials)'));
    const outcome = await this.nextNegotiationElement('the SASL outcome');
    if (outcome.name === 'failure') {
      throw new ConnectionError(`authentication as ${this.options.jid} failed: ${describeError(outcome)}`);
    }
    if (outcome.name !== 'success') throw unexpected(outcome, 'the SASL outcome');

    this.parser.restart();
    const boundFeatures = await this.openStream();
    if (!boundFeatures.getChild('bind', NS_BIND)) throw new ConnectionError('the server offers no resource binding');
    const { resource } = this.options;
    const bound = await this.request(
      el('bind', { xmlns: NS_BIND }, resource === undefined ? undefined : el('resource', {}, resource)),
      'resource binding',
    );
    const jid = bound.getChild('bind', NS_BIND)?.getChildText('jid')?.trim();
    if (!jid) throw new ConnectionError('the resource binding result has no JID');
    this.fullJid = jid;

    const session = boundFeatures.getChild('session', NS_SESSION);
    if (session && !session.getChild('optional')) await this.request(el('session', { xmlns: NS_SESSION }), 'session');

    this.negotiating = false;
    // Stanzas that came in the same read as the last negotiation reply.
    if (this.negotiation.length > 0) this.reads.push(this.negotiation.splice(0));
  }

  /**
   * Writes a stanza and resolves once the server has had its turn to read it:
   * the bytes are with the kernel and the event loop has polled at least once
   * (two immediates always straddle a poll phase). A server in this process
   * thus reads one client's stanza before the next client's is written.
   */
  async send(xml: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.write(xml, (err) => (err ? reject(new ConnectionError(this.failure ?? err.message)) : resolve()));
    });
    await new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
  }

  /**
   * Waits until at least one read is queued; true if one is, false after
   * `timeoutMs` without. Throws ConnectionError if the connection breaks first.
   */
  waitForRead(timeoutMs: number): Promise<boolean> {
    return this.waitUntil(() => this.reads.length > 0, timeoutMs);
  }

  /** Removes and returns every queued stanza, in order of arrival. */
  takeReads(): Element[] {
    return this.reads.splice(0).flat();
  }

  /** Closes the stream and waits (within the timeout) for the server to close its side. */
  async disconnect(): Promise<void> {
    const socket = this.socket;
    if (!socket || this.socketClosed) return;
    this.closing = true;
    socket.end('</stream:stream>');
    await this.waitUntil(() => this.socketClosed, this.options.timeout).catch(() => false);
    socket.destroy();
  }

  /** `traced` stands for `xml` in the trace, to keep secrets out of it. */
  private write(xml: string, written?: (err?: Error | null) => void, traced = xml): void {
    if (this.failure !== undefined) throw new ConnectionError(this.failure);
    this.options.trace?.('sent', traced);
    this.socket!.write(xml, written);
  }

  private openSocket(): Promise<void> {
    const { host, port, timeout } = this.options;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      this.socket = socket;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectionError(`timed out connecting to ${host}:${port}`));
      }, timeout);
      socket.setNoDelay(true);
      socket.on('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.on('error', (err) => {
        clearTimeout(timer);
        const message = `connection to ${host}:${port} failed: ${err.message}`;
        this.fail(message);
        reject(new ConnectionError(message));
      });
      socket.on('data', (chunk) => this.onData(chunk));
      socket.on('close', () => {
        this.socketClosed = true;
        if (!this.closing) this.fail('the server closed the connection');
        this.notify();
      });
    });
  }

  /** Sends a stream header and returns the stream features. */
  private async openStream(): Promise<Element> {
    const domain = this.options.jid.split('@')[1];
    this.write(
      `<?xml version='1.0'?><stream:stream xmlns='${NS_CLIENT}' xmlns:stream='${STREAMS_NS}' ` +
        `to='${domain}' version='1.0'>`,
    );
    const features = await this.nextNegotiationElement('stream features');
    if (localName(features) !== 'features') throw unexpected(features, 'stream features');
    return features;
  }

  /** Sends an iq of type set with the payload and returns its result. */
  private async request(payload: Element, purpose: string): Promise<Element> {
    const id = purpose.replace(/\W/g, '_');
    this.write(el('iq', { type: 'set', id }, payload).toString());
    const reply = await this.nextNegotiationElement(`the ${purpose} result`);
    if (reply.name !== 'iq' || reply.attrs.id !== id) throw unexpected(reply, `the ${purpose} result`);
    if (reply.attrs.type !== 'result') throw new ConnectionError(`${purpose} failed: ${describeError(reply)}`);
    return reply;
  }

  private async nextNegotiationElement(what: string): Promise<Element> {
    if (!(await this.waitUntil(() => this.negotiation.length > 0, this.options.timeout))) {
      throw new ConnectionError(`timed out waiting for ${what}`);
    }
    return this.negotiation.shift()!;
  }

  private onData(chunk: Buffer): void {
    this.options.trace?.('received', this.traceDecoder.write(chunk));
    this.currentRead = [];
    this.parser.write(chunk);
    if (this.currentRead.length > 0) this.reads.push(this.currentRead);
    this.notify();
  }

  private onTopLevelElement(element: Element): void {
    if (localName(element) === 'error' && element.name !== 'error') {
      this.fail(`stream error: ${describeError(element)}`);
    } else if (this.negotiating) {
      this.negotiation.push(element);
    } else {
      this.currentRead.push(element);
    }
  }

  private fail(reason: string): void {
    this.failure ??= reason;
    this.notify();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /**
   * Resolves true as soon as `ready()` holds, false after `timeoutMs`. Rejects
   * once the connection has failed and `ready()` still does not hold, so
   * stanzas that arrived before a failure can still be consumed.
   */
  private waitUntil(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      const check = () => {
        if (ready()) finish(() => resolve(true));
        else if (this.failure !== undefined) finish(() => reject(new ConnectionError(this.failure)));
      };
      const timer = setTimeout(() => finish(() => resolve(false)), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}

/** The name without its prefix: servers choose their own stream prefix. */
function localName(element: Element): string {
  return element.name.slice(element.name.indexOf(':') + 1);
}

/** "condition (text)" from a SASL failure, stream error or stanza error. */
function describeError(element: Element): string {
  const container = element.getChild('error') ?? element;
  const condition = container.elements().find((child) => child.name !== 'text');
  const text = container.getChildText('text')?.trim();
  return (condition?.name ?? 'unknown error') + (text ? ` (${text})` : '');
}

function unexpected(element: Element, expected: string): ConnectionError {
  return new ConnectionError(`expected ${expected}, got ${element.toString()}`);
}
