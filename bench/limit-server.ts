// The reference "limit" server: the least a Node program must do to serve the
// benchmark's clients. It answers the stream header, accepts any SASL PLAIN or
// ANONYMOUS login, binds, answers a MUC join with a bare self-presence (no
// occupant list, no broadcast) and writes the raw bytes of each groupchat
// message, unchanged, to every client in the "room" (the sender included, as a
// MUC reflects messages to their sender). No XML parsing, no MUC logic: every
// report shows how close a real server comes to what Node does on the machine.
// Its one optimization is the one any fast server makes: what one turn of the
// event loop writes to a socket leaves in one write (cork, uncork on setImmediate).
//
// Run: node dist/bench/limit-server.js [--host 127.0.0.1] [--port 5222]

import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { StanzaScanner, type StanzaSink } from './stanza-scanner.js';

const LETTER_A = 0x61;
const LETTER_I = 0x69;
const LETTER_M = 0x6d;
const LETTER_P = 0x70;
const GT = 0x3e;
const TO_ATTRIBUTE = Buffer.from(' to=');
const MUC_USER_NS = 'http://jabber.org/protocol/muc#user';

/** The rooms, and the sockets written to during this turn of the event loop. */
class Hub {
  readonly rooms = new Map<string, Set<LimitConnection>>();
  private readonly corked = new Set<Socket>();

  write(socket: Socket, bytes: Buffer): void {
    if (!this.corked.has(socket)) {
      if (this.corked.size === 0) setImmediate(() => this.flush());
      socket.cork();
      this.corked.add(socket);
    }
    socket.write(bytes);
  }

  private flush(): void {
    for (const socket of this.corked) socket.uncork();
    this.corked.clear();
  }
}

class LimitConnection implements StanzaSink {
  private readonly scanner = new StanzaScanner(this);
  private authenticated = false;
  private user = '';
  private jid = '';
  private readonly joined = new Set<string>();

  constructor(
    private readonly socket: Socket,
    private readonly id: number,
    private readonly hub: Hub,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.scanner.push(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.leaveAll());
  }

  streamHeader(bytes: Buffer, start: number, end: number): void {
    const domain = attribute(bytes.toString('utf8', start, end), 'to') ?? 'localhost';
    this.jid = `${this.user}@${domain}/limit`;
    const features = this.authenticated
      ? `<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>`
      : `<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism><mechanism>ANONYMOUS</mechanism></mechanisms>`;
    this.socket.write(
      `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' ` +
        `from='${domain}' id='limit${this.id}' version='1.0'><stream:features>${features}</stream:features>`,
    );
  }

  stanza(bytes: Buffer, start: number, end: number): void {
    switch (bytes[start + 1]) {
      case LETTER_M:
        this.fanOut(bytes, start, end);
        return;
      case LETTER_P:
        this.presence(bytes.toString('utf8', start, end));
        return;
      case LETTER_I:
        this.iq(bytes.toString('utf8', start, end));
        return;
      case LETTER_A:
        this.auth(bytes.toString('utf8', start, end));
        return;
    }
  }

  streamEnd(): void {
    this.leaveAll();
    this.socket.end('</stream:stream>');
  }

  private fanOut(bytes: Buffer, start: number, end: number): void {
    const to = bytes.indexOf(TO_ATTRIBUTE, start);
    const tagEnd = bytes.indexOf(GT, start);
    if (to < 0 || to > tagEnd) return;
    const quote = bytes[to + TO_ATTRIBUTE.length]!;
    const valueStart = to + TO_ATTRIBUTE.length + 1;
    const occupants = this.hub.rooms.get(bytes.toString('latin1', valueStart, bytes.indexOf(quote, valueStart)));
    if (!occupants) return;
    const raw = bytes.subarray(start, end);
    for (const occupant of occupants) this.hub.write(occupant.socket, raw);
  }

  private presence(text: string): void {
    const head = text.slice(0, text.indexOf('>'));
    const to = attribute(head, 'to');
    if (!to) return;
    const room = to.split('/', 1)[0]!;
    const leaving = attribute(head, 'type') === 'unavailable';
    if (leaving) this.leave(room);
    else this.enter(room);
    this.socket.write(
      `<presence from='${to}' to='${this.jid}'${leaving ? " type='unavailable'" : ''}><x xmlns='${MUC_USER_NS}'>` +
        `<item affiliation='none' role='${leaving ? 'none' : 'participant'}'/><status code='110'/></x></presence>`,
    );
  }

  private iq(text: string): void {
    const id = attribute(text.slice(0, text.indexOf('>')), 'id') ?? '';
    const payload = text.includes('urn:ietf:params:xml:ns:xmpp-bind')
      ? `<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>${this.jid}</jid></bind>`
      : '';
    this.socket.write(`<iq type='result' id='${id}'>${payload}</iq>`);
  }

  private auth(text: string): void {
    const credentials = Buffer.from(text.slice(text.indexOf('>') + 1, text.lastIndexOf('<')), 'base64').toString('utf8');
    this.user = credentials.split('\0')[1] || `anonymous${this.id}`;
    this.authenticated = true;
    this.socket.write(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`);
  }

  private enter(room: string): void {
    let occupants = this.hub.rooms.get(room);
    if (!occupants) {
      occupants = new Set();
      this.hub.rooms.set(room, occupants);
    }
    occupants.add(this);
    this.joined.add(room);
  }

  private leave(room: string): void {
    const occupants = this.hub.rooms.get(room);
    occupants?.delete(this);
    if (occupants?.size === 0) this.hub.rooms.delete(room);
    this.joined.delete(room);
  }

  private leaveAll(): void {
    for (const room of this.joined) this.leave(room);
  }
}

function attribute(head: string, name: string): string | undefined {
  return new RegExp(`\\s${name}=(['"])(.*?)\\1`).exec(head)?.[2];
}

/** Starts a limit server; resolves once it listens. */
export function startLimitServer(host: string, port: number): Promise<Server> {
  const hub = new Hub();
  let connections = 0;
  const server = createServer((socket) => new LimitConnection(socket, ++connections, hub));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: 4096 }, () => resolve(server));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '5222' } } });
  const server = await startLimitServer(values.host, Number(values.port));
  const address = server.address();
  console.log(`limit server listening on ${typeof address === 'object' && address ? `${address.address}:${address.port}` : address}`);
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}
