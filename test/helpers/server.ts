// Test support: a server on an ephemeral port with a scratch data folder, a
// raw XMPP client for tests that speak the protocol by hand, the server as a
// separate process for crash tests, and the command line as a separate process.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, REUSE_PORT_SUPPORTED } from '../../src/config/load.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/frontend/server.js';
import type { Element } from '../../src/xml/element.js';
import { XmppStreamParser } from '../../src/xml/stream-parser.js';

type Tree = { [key: string]: unknown };

export type TestServer = RunningServer & { dataDir: string };

/**
 * Starts the `scansion` profile on an ephemeral port with a fresh data folder
 * (removed on close), silent unless CONCLAVE_TEST_LOG names a log level, with
 * `overrides` layered on top.
 */
export async function startTestServer(overrides: Tree = {}, options: ServerOptions = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'conclave-test-'));
  // One I/O thread unless a test asks for more: "auto" would differ from machine to machine.
  const base: Tree = { client: { port: 0, io_threads: 1 }, data_dir: dataDir, log_level: process.env.CONCLAVE_TEST_LOG || 'silent' };
  const settings = loadConfig({ profile: 'scansion', overrides: layer(base, overrides) });
  let server: RunningServer;
  try {
    server = await startServer(settings, undefined, options);
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...server,
    dataDir,
    async close() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A throwaway self-signed certificate for `localhost` written to `dir`, as the `client.tls_*` keys name it. */
export function selfSignedCertificate(dir: string): { tls_cert: string; tls_key: string } {
  const files = { tls_cert: join(dir, 'cert.pem'), tls_key: join(dir, 'key.pem') };
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', files.tls_key, '-out', files.tls_cert], {
    stdio: 'ignore',
  });
  return files;
}

/** Why a test of several I/O threads cannot run on this Node, or undefined when it can. */
export const IO_THREADS_SKIP = REUSE_PORT_SUPPORTED
  ? undefined
  : `several I/O threads need Node >= 22.12 (SO_REUSEPORT); this is Node ${process.versions.node}`;

function layer(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isTree(current) && isTree(value) ? layer(current, value) : value;
  }
  return out;
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A hand-driven XMPP client: it sends raw strings and waits for parsed stanzas. */
export class RawClient {
  /** Stanzas received and not yet taken by `next`. */
  readonly queue: Element[] = [];
  /** The server's stream headers, in order. */
  readonly headers: Element[] = [];
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  /** The server closed its stream (`</stream:stream>`). */
  streamEnded = false;
  fullJid = '';
  /** Stanzas (message, presence, iq) received so far: what stream management's h counts. */
  stanzaCount = 0;
  private parser = this.newParser();
  private waiters: { predicate: (stanza: Element) => boolean; resolve(stanza: Element): void; reject(err: Error): void; keep?: boolean }[] = [];
  private isClosed = false;
  private readonly onData = (chunk: Buffer) => this.parser.write(chunk);

  private constructor(public socket: Socket) {
    socket.on('data', this.onData);
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        for (const waiter of this.waiters) waiter.reject(new Error('The connection closed'));
        this.waiters = [];
        resolve();
      }),
    );
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolvePromise, reject) => {
      // No Nagle, as the server and real clients: a stanza written is on the wire, not held
      // back until the previous one is acknowledged (which made the shutdown test lose a burst's tail).
      const socket = connect({ port, host, noDelay: true }, () => {
        socket.off('error', reject);
        resolvePromise(new RawClient(socket));
      });
      socket.once('error', reject);
    });
  }

  send(xml: string | Buffer): void {
    this.socket.write(xml);
  }

  /** The first received stanza (already queued or still to come) that matches; earlier non-matching ones stay queued. */
  next(predicate: (stanza: Element) => boolean = () => true): Promise<Element> {
    const index = this.queue.findIndex(predicate);
    if (index !== -1) return Promise.resolve(this.queue.splice(index, 1)[0]);
    if (this.isClosed) return Promise.reject(new Error('The connection closed'));
    return new Promise((resolvePromise, reject) => this.waiters.push({ predicate, resolve: resolvePromise, reject }));
  }

  /** Resolves once a matching stanza has been received, leaving it (and what came before it) queued in order. */
  arrived(predicate: (stanza: Element) => boolean): Promise<Element> {
    const queued = this.queue.find(predicate);
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.isClosed) return Promise.reject(new Error('The connection closed'));
    return new Promise((resolvePromise, reject) => this.waiters.push({ predicate, resolve: resolvePromise, reject, keep: true }));
  }

  /** An iq reply with this id. */
  reply(id: string): Promise<Element> {
    return this.next((stanza) => stanza.name === 'iq' && stanza.attrs.id === id);
  }

  /** Sends a stream header and resolves with the stream features. */
  openStream(to = 'localhost'): Promise<Element> {
    this.send(
      `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${to}' version='1.0'>`,
    );
    return this.next((stanza) => stanza.name === 'stream:features');
  }

  /** STARTTLS (any certificate is accepted) and a new stream; resolves with its features. */
  async startTls(): Promise<Element> {
    this.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
    const answer = await this.next((s) => s.name === 'proceed' || s.name === 'failure');
    if (answer.name !== 'proceed') throw new Error(`STARTTLS refused: ${answer.toString()}`);
    const raw = this.socket;
    raw.off('data', this.onData);
    this.parser = this.newParser();
    const secure = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' });
    secure.on('error', () => {});
    await once(secure, 'secureConnect');
    secure.on('data', this.onData);
    this.socket = secure;
    return this.openStream();
  }

  /** SASL PLAIN; resolves with the `<success/>` or `<failure/>` element. */
  async authenticatePlain(username: string, password: string): Promise<Element> {
    const response = Buffer.from(`\0${username}\0${password}`).toString('base64');
    this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${response}</auth>`);
    return this.saslOutcome();
  }

  /** SASL ANONYMOUS, as a guest; resolves with the `<success/>` or `<failure/>` element. */
  async authenticateAnonymous(): Promise<Element> {
    this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>`);
    return this.saslOutcome();
  }

  /** SASL SCRAM-SHA-1 or SCRAM-SHA-256, checking the server's signature; resolves with `<success/>` or `<failure/>`. */
  async authenticateScram(username: string, password: string, hash: 'sha1' | 'sha256'): Promise<Element> {
    const mechanism = hash === 'sha1' ? 'SCRAM-SHA-1' : 'SCRAM-SHA-256';
    const clientNonce = randomBytes(12).toString('base64');
    const clientFirstBare = `n=${username},r=${clientNonce}`;
    this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='${mechanism}'>${b64('n,,' + clientFirstBare)}</auth>`);
    const challenge = await this.next((s) => ['challenge', 'failure'].includes(s.name));
    if (challenge.name === 'failure') return challenge;
    const serverFirst = Buffer.from(challenge.text(), 'base64').toString();
    const fields = Object.fromEntries(serverFirst.split(',').map((part) => [part[0], part.slice(2)]));
    const salted = pbkdf2Sync(password, Buffer.from(fields.s, 'base64'), Number(fields.i), hash === 'sha1' ? 20 : 32, hash);
    const clientKey = createHmac(hash, salted).update('Client Key').digest();
    const storedKey = createHash(hash).update(clientKey).digest();
    const withoutProof = `c=${b64('n,,')},r=${fields.r}`;
    const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = createHmac(hash, storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]));
    this.send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${b64(`${withoutProof},p=${proof.toString('base64')}`)}</response>`);
    const outcome = await this.saslOutcome();
    if (outcome.name === 'success') {
      const serverKey = createHmac(hash, salted).update('Server Key').digest();
      const expected = 'v=' + createHmac(hash, serverKey).update(authMessage).digest('base64');
      if (Buffer.from(outcome.text(), 'base64').toString() !== expected) throw new Error('Wrong server signature');
    }
    return outcome;
  }

  /** Opens a stream, logs in with PLAIN and binds; resolves with the full JID. */
  async login(username: string, password = 'password', resource?: string): Promise<string> {
    await this.openStream();
    const outcome = await this.authenticatePlain(username, password);
    if (outcome.name !== 'success') throw new Error(`Login failed: ${outcome.toString()}`);
    return this.bindAfterAuth(resource);
  }

  /** After a successful SASL exchange: restarts the stream and binds a resource; resolves with the full JID. */
  async bindAfterAuth(resource?: string): Promise<string> {
    await this.openStream();
    const payload = resource === undefined ? '' : `<resource>${resource}</resource>`;
    this.send(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>${payload}</bind></iq>`);
    const result = await this.reply('bind');
    const jid = result.getChild('bind')?.getChildText('jid');
    if (result.attrs.type !== 'result' || !jid) throw new Error(`Bind failed: ${result.toString()}`);
    this.fullJid = jid;
    return jid;
  }

  /** Pings the server and waits for the answer. */
  async ping(id = 'ping-' + randomBytes(4).toString('hex')): Promise<Element> {
    this.send(`<iq type='get' id='${id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`);
    return this.reply(id);
  }

  /** The condition of the stream error the server sent, waiting for it. */
  async streamError(): Promise<string> {
    const error = await this.next((stanza) => stanza.name === 'stream:error');
    return error.elements().find((child) => child.name !== 'text')?.name ?? '';
  }

  /** Closes the stream and waits for the socket to close. */
  async close(): Promise<void> {
    if (!this.isClosed) this.socket.end('</stream:stream>');
    await this.closed;
  }

  private async saslOutcome(): Promise<Element> {
    const outcome = await this.next((s) => s.name === 'success' || s.name === 'failure');
    // The server restarts its stream after success; so must we.
    if (outcome.name === 'success') this.parser = this.newParser();
    return outcome;
  }

  private newParser(): XmppStreamParser {
    const limits = { maxStanzaSize: 64 * 1024 * 1024, maxDepth: 1000, maxAttributes: 1000 };
    return new XmppStreamParser(
      {
        streamStart: (header) => this.headers.push(header),
        stanza: (stanza) => this.received(stanza),
        streamEnd: () => (this.streamEnded = true),
        error: (condition, text) => this.socket.destroy(new Error(`Client parser: ${condition}: ${text}`)),
      },
      limits,
    );
  }

  private received(stanza: Element): void {
    if (stanza.name === 'message' || stanza.name === 'presence' || stanza.name === 'iq') this.stanzaCount++;
    const index = this.waiters.findIndex((waiter) => waiter.predicate(stanza));
    if (index === -1) {
      this.queue.push(stanza);
      return;
    }
    const [waiter] = this.waiters.splice(index, 1);
    if (waiter.keep) this.queue.push(stanza);
    waiter.resolve(stanza);
  }
}

/** Connects, logs in with PLAIN and binds. */
export async function rawClient(port: number, username: string, resource?: string, password = 'password'): Promise<RawClient> {
  const client = await RawClient.connect(port);
  await client.login(username, password, resource);
  return client;
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

export interface SpawnedServer {
  port: number;
  process: ChildProcess;
  /** Everything the process wrote so far. */
  output(): string;
  /** Resolves with the output once it matches (stdout and stderr alike); rejects if the process exits first. */
  waitForOutput(pattern: RegExp): Promise<string>;
  /** Sends a signal (SIGTERM by default) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

export interface CliOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `conclave ARGS` as a child process, with `input` on its standard input. */
export function conclave(args: string[], input?: string): Promise<CliOutcome> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input);
  return new Promise((resolvePromise) => child.on('close', (code) => resolvePromise({ code, stdout, stderr })));
}

/** Runs `conclave COMMAND JID --config CONFIG` (adduser, passwd, deluser), the password on standard input; fails the test unless it succeeds. */
export async function accountCommand(config: string, command: string, jid: string, password?: string): Promise<void> {
  const { code, stderr } = await conclave([command, jid, '--config', config], password === undefined ? undefined : password + '\n');
  if (code !== 0) throw new Error(`conclave ${command} ${jid} exited with ${code}: ${stderr}`);
}

/** Runs `conclave start ARGS` as a child process; resolves once it says where it listens. */
export async function spawnServer(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<SpawnedServer> {
  const child = spawn(process.execPath, [CLI, 'start', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // 'close', not 'exit': by then everything the process wrote has been read.
  const exited = new Promise<number | null>((resolveExit) => child.on('close', (code) => resolveExit(code)));
  // Each waiter is checked on every chunk, from either stream.
  const waiters = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    for (const check of waiters) check();
  };
  const waitForOutput = (pattern: RegExp) =>
    new Promise<string>((resolveWait, rejectWait) => {
      const check = () => {
        if (!pattern.test(output)) return;
        waiters.delete(check);
        resolveWait(output);
      };
      waiters.add(check);
      check();
      void exited.then((code) => waiters.has(check) && rejectWait(new Error(`conclave start exited with ${code} before printing ${pattern}:\n${output}`)));
    });
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const listening = /listening on \S+:(\d+)/;
  const banner = await waitForOutput(listening);
  return {
    port: Number(listening.exec(banner)![1]),
    process: child,
    output: () => output,
    waitForOutput,
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
