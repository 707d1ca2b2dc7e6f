// XMPP over WebSocket (RFC 7395) and its discovery (XEP-0156), on an HTTP
// listener of their own: HTTPS (wss://) when client.tls_cert and
// client.tls_key are set, where TLS is the WebSocket's and STARTTLS is not
// offered. Each WebSocket carries a ClientSession, the same as a TCP
// connection, and the client listener gives it one under the same limits: the
// transport below turns RFC 7395's framing (<open/> and <close/> for the
// stream's edges, one complete element per message) into the stream the
// session reads, and the session's output back into messages.

import { EventEmitter } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { Settings } from '../config/load.js';
import type { Logger } from '../log.js';
import { escapeAttribute } from '../xml/escape.js';
import { parseElement, STREAMS_NS } from '../xml/stream-parser.js';
import type { ClientSession } from './c2s-session.js';
import { listenRefusal, loadTlsFiles } from './listener.js';
import type { ClientTransport } from './transport.js';
import { NS_CLIENT } from '../xmpp/namespaces.js';

const FRAMING_NS = 'urn:ietf:params:xml:ns:xmpp-framing';
const ALT_CONNECTIONS_WEBSOCKET = 'urn:xmpp:alt-connections:websocket';
/** Past this much unsent output a write asks the session to wait for 'drain', as a net.Socket's default high-water mark does. */
const HIGH_WATER_MARK = 16 * 1024;
const CLOSE_FRAME = `<close xmlns='${FRAMING_NS}'/>`;

/** Gives a WebSocket its session (the client listener's `accept`). */
export type AcceptClient = (transport: ClientTransport) => ClientSession;

export class WebSocketListener {
  /** Settles once the listener is closed and every connection has ended. */
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static listen(settings: Settings, log: Logger, accept: AcceptClient): Promise<WebSocketListener> {
    const { host, port, path } = settings.websocket;
    const tls = loadTlsFiles(settings);
    const server = tls ? createHttpsServer(tls) : createHttpServer();
    // Room for a stanza at the limit written by a generous serializer; the session's parser enforces the limit itself.
    const webSockets = new WebSocketServer({ noServer: true, maxPayload: 2 * settings.limits.max_stanza_size });
    return new Promise((resolve, reject) => {
      const refused = (err: NodeJS.ErrnoException) => reject(listenRefusal(err, host, port, 'websocket.host, websocket.port'));
      server.once('error', refused);
      server.listen({ host, port }, () => {
        server.off('error', refused);
        const address = server.address();
        const listener = new WebSocketListener(server, typeof address === 'object' && address ? address.port : port);
        server.on('request', (request: IncomingMessage, response: ServerResponse) => discovery(settings, tls !== undefined, request, response));
        server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
          const refusal = upgradeRefusal(request, path);
          if (refusal) {
            socket.end(`HTTP/1.1 ${refusal}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${refusal}\n`);
            return;
          }
          webSockets.handleUpgrade(request, socket, head, (webSocket) => {
            // TLS, when there is any, is the WebSocket's: the session offers no STARTTLS.
            const transport = new WebSocketTransport(webSocket, request, tls !== undefined);
            const session = accept(transport);
            transport.on('framing-error', (condition: string, text: string) => session.streamError(condition, text));
          });
        });
        server.on('error', (err) => log.error({ err }, 'websocket listener error'));
        resolve(listener);
      });
    });
  }

  /** Refuses new connections; those open carry on until their sessions end. */
  stopAccepting(): void {
    this.closed ??= new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Stops accepting and waits for the connections to close (the client listener closes their sessions). */
  async close(): Promise<void> {
    this.stopAccepting();
    await this.closed;
  }
}

/** Why an upgrade request gets no WebSocket (an HTTP status line), or undefined. */
function upgradeRefusal(request: IncomingMessage, path: string): string | undefined {
  if (new URL(request.url ?? '/', 'http://localhost').pathname !== path) return '404 Not Found';
  const protocols = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((protocol) => protocol.trim());
  // RFC 7395 §3.1: the "xmpp" subprotocol is how a client says it speaks this framing.
  if (!protocols.includes('xmpp')) return '400 The xmpp WebSocket subprotocol is required (RFC 7395)';
  return undefined;
}

/** XEP-0156: where the WebSocket endpoint is, in host-meta's XML and JSON forms; anything else is not here. */
function discovery(settings: Settings, secure: boolean, request: IncomingMessage, response: ServerResponse): void {
  const { path, url } = settings.websocket;
  const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
  const href = url ?? `${secure ? 'wss' : 'ws'}://${request.headers.host ?? `${settings.websocket.host}:${settings.websocket.port}`}${path}`;
  // Web clients on other origins read it too.
  response.setHeader('Access-Control-Allow-Origin', '*');
  if (pathname === '/.well-known/host-meta') {
    response.setHeader('Content-Type', 'application/xrd+xml');
    response.end(
      `<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n` +
        `  <Link rel='${ALT_CONNECTIONS_WEBSOCKET}' href='${escapeAttribute(href)}'/>\n</XRD>\n`,
    );
  } else if (pathname === '/.well-known/host-meta.json') {
    response.setHeader('Content-Type', 'application/json');
    response.end(JSON.stringify({ links: [{ rel: ALT_CONNECTIONS_WEBSOCKET, href }] }) + '\n');
  } else if (pathname === path) {
    response.statusCode = 426;
    response.setHeader('Upgrade', 'websocket');
    response.end('XMPP over WebSocket (RFC 7395): connect with the xmpp subprotocol\n');
  } else {
    response.statusCode = 404;
    response.end('Not found\n');
  }
}

/**
 * A WebSocket as a session's transport. Inbound, each message must be one
 * complete element: <open/> becomes a stream header, <close/> the stream's
 * end, anything else is passed on as it came; a message that breaks the
 * framing is a 'framing-error' (a stream error condition and text). Outbound,
 * the session's writes are cut into their top-level elements, one message
 * each, with the namespaces a stream would have given them declared.
 */
class WebSocketTransport extends EventEmitter implements ClientTransport {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  private needDrain = false;

  constructor(
    private readonly webSocket: WebSocket,
    private readonly request: IncomingMessage,
    readonly encrypted: boolean,
  ) {
    super();
    this.remoteAddress = request.socket.remoteAddress;
    this.remotePort = request.socket.remotePort;
    webSocket.on('message', this.onMessage);
    webSocket.on('close', () => this.emit('close'));
    webSocket.on('error', (err) => this.emit('error', err));
  }

  get destroyed(): boolean {
    return this.webSocket.readyState !== WebSocket.OPEN;
  }

  get writableLength(): number {
    return this.webSocket.bufferedAmount;
  }

  get writableNeedDrain(): boolean {
    return this.needDrain;
  }

  write(data: string): boolean {
    for (const message of messages(data)) this.webSocket.send(message, this.sent);
    if (this.webSocket.bufferedAmount >= HIGH_WATER_MARK) this.needDrain = true;
    return !this.needDrain;
  }

  pause(): this {
    this.webSocket.pause();
    return this;
  }

  resume(): this {
    this.webSocket.resume();
    return this;
  }

  setNoDelay(noDelay?: boolean): this {
    this.request.socket.setNoDelay(noDelay);
    return this;
  }

  end(): this {
    this.webSocket.close(1000);
    return this;
  }

  destroy(): this {
    this.webSocket.terminate();
    return this;
  }

  private readonly sent = (): void => {
    if (this.needDrain && this.webSocket.bufferedAmount === 0) {
      this.needDrain = false;
      this.emit('drain');
    }
  };

  private readonly onMessage = (data: RawData, isBinary: boolean): void => {
    if (isBinary || !Buffer.isBuffer(data)) {
      return void this.emit('framing-error', 'bad-format', 'XMPP over WebSocket is sent in text messages (RFC 7395 §3.2)');
    }
    // A parse of this message alone: the session's parser reads one stream and cannot tell where a message ended.
    let element;
    try {
      element = parseElement(data.toString('utf8'));
    } catch (err) {
      const reason = (err as Error).message.split('\n')[0];
      return void this.emit('framing-error', 'not-well-formed', `Each WebSocket message must be one complete XML element (RFC 7395 §3.3.3): ${reason}`);
    }
    if (element.attrs.xmlns === FRAMING_NS && element.name === 'open') {
      const attributes = Object.entries(element.attrs).filter(([name]) => !name.startsWith('xmlns'));
      const header = `<stream:stream xmlns='${NS_CLIENT}' xmlns:stream='${STREAMS_NS}'${attributes.map(([name, value]) => ` ${name}='${escapeAttribute(value)}'`).join('')}>`;
      return void this.emit('data', Buffer.from(header));
    }
    if (element.attrs.xmlns === FRAMING_NS && element.name === 'close') return void this.emit('data', Buffer.from('</stream:stream>'));
    if (element.name === 'stream' || element.name.endsWith(':stream')) {
      return void this.emit('framing-error', 'bad-format', `A stream opens with <open xmlns='${FRAMING_NS}'/> over WebSocket (RFC 7395 §3.3.1)`);
    }
    this.emit('data', data);
  };
}

/**
 * The session's output as WebSocket messages. It is our own serialization, in
 * which "<" and ">" only ever delimit tags (escape.ts), so its top-level
 * elements are found by counting tags; the stream header and its closing tag
 * become <open/> and <close/>.
 */
function messages(xml: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let at = xml.indexOf('<'); at !== -1; at = xml.indexOf('<', at + 1)) {
    const end = xml.indexOf('>', at);
    if (end === -1) break;
    const kind = xml[at + 1];
    if (kind === '?') {
      // The XML declaration before the stream header.
    } else if (kind === '/') {
      if (depth === 0) out.push(CLOSE_FRAME);
      else if (--depth === 0) out.push(declareNamespaces(xml.slice(start, end + 1)));
    } else if (xml[end - 1] === '/') {
      if (depth === 0) out.push(declareNamespaces(xml.slice(at, end + 1)));
    } else if (depth === 0 && xml.startsWith('<stream:stream', at)) {
      const attributes = xml.slice(at + '<stream:stream'.length, end).replace(/\s+xmlns(?::stream)?=(['"])[^'"]*\1/g, '');
      out.push(`<open xmlns='${FRAMING_NS}'${attributes}/>`);
    } else if (depth++ === 0) {
      start = at;
    }
    at = end;
  }
  return out;
}

/** RFC 7395 §3.3.3: each message stands alone, so it declares what the stream header declared for it. */
function declareNamespaces(element: string): string {
  const nameEnd = element.search(/[\s/>]/);
  const head = element.slice(0, element.indexOf('>'));
  let declarations = '';
  if (element.startsWith('<stream:')) declarations = ` xmlns:stream='${STREAMS_NS}'`;
  else if (!/\sxmlns=/.test(head)) declarations = ` xmlns='${NS_CLIENT}'`;
  return element.slice(0, nameEnd) + declarations + element.slice(nameEnd);
}
