// The over-the-wire half of the fuzzer: many clients in parallel log in and send
// generated stanzas to a running server; now and then a fresh connection sends a
// mutated stream instead. Each client checks, every few inputs, that the server
// still answers it: a ping to the server and a self-ping through its probe room
// (so through a shard). No answer within the hang timeout is a hang.
//
// Malformed input ends its stream, so a client sends one only as the last thing
// on a connection and reconnects; a refusal to connect or log in (rate limits,
// connection caps) is retried until the hang timeout.

import { setTimeout as sleep } from 'node:timers/promises';
import { RawClient } from '../../test/helpers/server.js';
import { parseElement } from '../../src/xml/stream-parser.js';
import { FUZZ_MUC_DOMAIN, FUZZ_USERS, stanzaInput, streamInput } from './generate.js';
import { Random } from './random.js';

export interface ServerFuzzOptions {
  seed: number;
  /** Inputs to send, numbered from 0. */
  inputs: number;
  clients: number;
  port: number;
  /** How long an answer may take before the server counts as hung. */
  hangTimeoutMs: number;
  /** Whether the time for the run is up: no more inputs are taken. */
  overBudget(): boolean;
  /** Called after every input, with the count so far. */
  progress(sent: number): void;
}

export interface Hang {
  client: number;
  what: string;
  /** The inputs the client sent since its last answered check, oldest first. */
  inputs: number[];
}

export interface ServerFuzzResult {
  stanzas: number;
  streams: number;
  /** Connections made: after each malformed input, or when the server closed one (stream errors, limits). */
  connections: number;
  hangs: Hang[];
}

/** Inputs a client sends between two liveness checks. */
const CHECK_EVERY = 20;
/** One input in this many is a whole stream on a fresh connection. */
const STREAM_EVERY = 10;

export function isStreamInput(seed: number, index: number): boolean {
  return new Random(seed, index * 8 + 6).int(STREAM_EVERY) === 0;
}

/** What the server fuzzer sends as input `index`. */
export function serverInput(seed: number, index: number): string {
  return isStreamInput(seed, index) ? streamInput(seed, index) : stanzaInput(seed, index);
}

export async function fuzzServer(options: ServerFuzzOptions): Promise<ServerFuzzResult> {
  const result: ServerFuzzResult = { stanzas: 0, streams: 0, connections: 0, hangs: [] };
  let nextInput = 0;
  const take = (): number | null => (nextInput < options.inputs && !options.overBudget() ? nextInput++ : null);
  await Promise.all(Array.from({ length: options.clients }, (_, client) => runClient(client, options, take, result)));
  return result;
}

async function runClient(
  client: number,
  options: ServerFuzzOptions,
  take: () => number | null,
  result: ServerFuzzResult,
): Promise<void> {
  let session: FuzzSession | null = null;
  let unchecked: number[] = [];
  const check = async (): Promise<void> => {
    if (session === null) return;
    const answer = await session.alive(options.hangTimeoutMs);
    if (answer !== null) {
      result.hangs.push({ client, what: answer, inputs: unchecked });
      session.destroy();
      session = null;
    }
    unchecked = [];
  };
  for (let index = take(); index !== null; index = take()) {
    if (isStreamInput(options.seed, index)) {
      const hung = await sendStream(options.port, streamInput(options.seed, index), options.hangTimeoutMs);
      if (hung) result.hangs.push({ client, what: hung, inputs: [index] });
      result.streams++;
    } else {
      if (session === null || session.closed) {
        session = await FuzzSession.open(options.port, client, options.hangTimeoutMs);
        if (session === null) {
          result.hangs.push({ client, what: 'could not connect, log in and join a probe room', inputs: unchecked });
          unchecked = [];
          continue;
        }
        result.connections++;
      }
      const text = stanzaInput(options.seed, index);
      session.client.send(text);
      unchecked.push(index);
      result.stanzas++;
      if (!wellFormed(text)) {
        // The server refuses it with a stream error, or waits for the rest of a
        // stanza cut short: either way nothing more can follow on this stream.
        // Whether the server survived, the next check of any client tells.
        session.client.socket.end();
        session = null;
        unchecked = [];
      } else if (unchecked.length >= CHECK_EVERY) await check();
    }
    options.progress(index + 1);
  }
  await check();
  await session?.close();
}

function wellFormed(text: string): boolean {
  try {
    parseElement(text);
    return true;
  } catch {
    return false;
  }
}

/** Sends a whole stream on a fresh connection and closes it; says what hung, if the server did not let go. */
async function sendStream(port: number, text: string, timeoutMs: number): Promise<string | null> {
  let client: RawClient;
  try {
    client = await RawClient.connect(port);
  } catch {
    return null; // Refused (a connection cap): nothing reached the server.
  }
  client.send(text);
  client.socket.end();
  const closed = await within(client.closed, timeoutMs);
  client.socket.destroy();
  return closed ? null : 'a connection stayed open after the client closed its side';
}

/** A logged-in client that sits in its own probe room, so that a self-ping goes through a shard. */
class FuzzSession {
  closed = false;
  private pings = 0;

  private constructor(
    readonly client: RawClient,
    private readonly occupant: string,
  ) {
    void client.closed.then(() => (this.closed = true));
  }

  /** Connects, logs in and joins the probe room, retrying refusals until the timeout; null when it never worked. */
  static async open(port: number, index: number, timeoutMs: number): Promise<FuzzSession | null> {
    const deadline = Date.now() + timeoutMs;
    const occupant = `probe${index}@${FUZZ_MUC_DOMAIN}/probe`;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      let client: RawClient | undefined;
      try {
        client = await RawClient.connect(port);
        const session = new FuzzSession(client, occupant);
        const ready = (async () => {
          await client.login(`fuzz${index % FUZZ_USERS}`, 'password', `c${index}-${attempt}`);
          client.send(`<presence to='${occupant}'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
          await client.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === occupant);
        })();
        ready.catch(() => {}); // Awaited below unless the deadline passes first.
        if (await within(ready, Math.max(0, deadline - Date.now()))) {
          client.queue.length = 0;
          return session;
        }
      } catch {
        // Refused or closed while logging in: try again after a pause.
      }
      client?.socket.destroy();
      await sleep(Math.min(5000, 50 * 2 ** attempt));
    }
    return null;
  }

  /** Null when both the server and the probe room answer a ping in time; otherwise what did not. */
  async alive(timeoutMs: number): Promise<string | null> {
    if (this.closed) return null;
    const server = `check${this.pings++}`;
    const room = `check${this.pings++}`;
    this.client.send(`<iq type='get' id='${server}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`);
    this.client.send(`<iq type='get' id='${room}' to='${this.occupant}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    const answered = Promise.all([this.client.reply(server), this.client.reply(room)]);
    answered.catch(() => {});
    const answer = await within(answered, timeoutMs).catch(() => true);
    // What else arrived (broadcasts, errors to fuzz input) is not checked; drop it.
    this.client.queue.length = 0;
    return answer || this.closed ? null : 'a ping to the server or through the probe room went unanswered';
  }

  destroy(): void {
    this.client.socket.destroy();
  }

  async close(): Promise<void> {
    await within(this.client.close(), 5000);
    this.destroy();
  }
}

/** Whether the promise settled within the time (true), or not (false); a rejection passes through. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const controller = new AbortController();
  try {
    return await Promise.race([promise.then(() => true), sleep(ms, false, { signal: controller.signal })]);
  } finally {
    controller.abort();
  }
}
