// Runs scansion scripts against an XMPP server, one action at a time.
//
// What a receive step reads follows scansion against Prosody: it takes
// everything the client has been sent so far (or, if nothing yet, the next
// network read) and compares the first stanza. The rest of that batch feeds the
// same client's immediately following receive steps and is dropped as soon as
// the script does anything else; stanzas arriving later stay queued. Prosody's
// own scripts depend on the dropping. `keepUnread` keeps every unread stanza
// instead, for scripts that want to account for all of them.
//
// A broken stream fails only the next step of its own client, and not that
// client's disconnect: a script may well end by making the server close it.

import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Element } from '../xml/element.js';
import { ConnectionError, ScansionClient } from './client.js';
import { matchStanza, type Captures } from './matcher.js';
import { prettyPrint } from './pretty.js';
import {
  describeAction,
  loadScript,
  parseStanza,
  ScriptParseError,
  substituteVariables,
  type Action,
  type ClientSpec,
  type Script,
  type Variable,
} from './script.js';

export interface Server {
  host: string;
  port: number;
}

export interface RunOptions {
  /** Server to connect to when a client has no connect_host (default: the JID's domain). */
  host?: string;
  /** Port when a client has no connect_port (default 5222). */
  port?: number;
  /**
   * Servers the script's clients go to in turn, by order of definition; a
   * client's connect_host and connect_port still win.
   */
  spread?: Server[];
  /** How long a receive (and each connection step) waits, in ms. */
  timeout?: number;
  /** How long `receives: nothing` listens, in ms. */
  nothingWait?: number;
  /** A pause after every send, in ms, for servers in another process. */
  sendDelay?: number;
  /** Keep stanzas a receive step's read left over, instead of dropping them. */
  keepUnread?: boolean;
  /** Run only scripts with at least one of these tags (when given). */
  onlyTags?: string[];
  /** Skip scripts with any of these tags. */
  skipTags?: string[];
  /** Receives the XML each client writes and reads. */
  trace?: (client: string, direction: 'sent' | 'received', xml: string) => void;
}

export interface ScriptResult {
  file: string;
  passed: boolean;
  /** Left out by the tag options. */
  skipped: boolean;
  failure?: { line: number; action: string; message: string; expected?: string; received?: string };
  /** Steps performed, the failing one included, of the script's `totalSteps`. */
  steps: number;
  totalSteps: number;
  durationMs: number;
}

const DEFAULT_TIMEOUT = 5000;
const DEFAULT_NOTHING_WAIT = 500;
const DEFAULT_PORT = 5222;

export async function runScript(file: string, options: RunOptions = {}): Promise<ScriptResult> {
  const started = performance.now();
  let steps = 0;
  let totalSteps = 0;
  const result = (failure?: ScriptResult['failure'], skipped = false): ScriptResult => ({
    file,
    passed: failure === undefined && !skipped,
    skipped,
    failure,
    steps,
    totalSteps,
    durationMs: performance.now() - started,
  });
  let script: Script;
  try {
    script = await loadScript(file);
  } catch (err) {
    if (err instanceof ScriptParseError) return result({ line: err.line, action: 'parse', message: err.detail });
    return result({ line: 0, action: 'read', message: (err as Error).message });
  }
  totalSteps = script.actions.length;
  if (!selectedByTags(script.tags, options)) return result(undefined, true);
  const run = new ScriptRun(script, options);
  try {
    for (const action of script.actions) {
      steps++;
      try {
        await run.perform(action);
      } catch (err) {
        if (!(err instanceof StepFailure || err instanceof ConnectionError)) throw err;
        const { expected, received } = err instanceof StepFailure ? err : {};
        return result({ line: action.line, action: describeAction(action), message: err.message, expected, received });
      }
    }
    return result();
  } finally {
    await run.disconnectAll();
  }
}

function selectedByTags(tags: string[], { onlyTags, skipTags }: RunOptions): boolean {
  if (skipTags?.some((tag) => tags.includes(tag))) return false;
  return onlyTags === undefined || onlyTags.some((tag) => tags.includes(tag));
}

/** Runs the scripts one after another; a directory stands for its `*.scs` files, sorted. */
export async function runScripts(
  paths: string[],
  options: RunOptions = {},
): Promise<{ passed: number; failed: number; skipped: number; results: ScriptResult[] }> {
  const results: ScriptResult[] = [];
  for (const file of await findScripts(paths)) results.push(await runScript(file, options));
  return { ...countResults(results), results };
}

export function countResults(results: ScriptResult[]): { passed: number; failed: number; skipped: number } {
  const count = (test: (result: ScriptResult) => boolean) => results.filter(test).length;
  return {
    passed: count((result) => result.passed),
    failed: count((result) => result.failure !== undefined),
    skipped: count((result) => result.skipped),
  };
}

/** The script files the paths name: files as given, directories as their `*.scs` files, sorted. */
export async function findScripts(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const isDirectory = await stat(path).then(
      (stats) => stats.isDirectory(),
      () => false, // a missing file is reported by runScript, as a failed script
    );
    if (!isDirectory) {
      files.push(path);
      continue;
    }
    const names = (await readdir(path)).filter((name) => name.endsWith('.scs')).sort();
    files.push(...names.map((name) => join(path, name)));
  }
  return files;
}

/** A step that did not go as the script says; the runner adds line and action. */
class StepFailure extends Error {
  constructor(
    message: string,
    readonly expected?: string,
    readonly received?: string,
  ) {
    super(message);
  }
}

/** The state of one script run: its connected clients and their unread stanzas. */
class ScriptRun {
  private readonly timeout: number;
  private readonly nothingWait: number;
  private readonly connected = new Map<string, ScansionClient>();
  /** Full JIDs stay known after a disconnect: later stanzas may still mention them. */
  private readonly fullJids = new Map<string, string>();
  /** Per client: the rest of the batch its last receive step read. */
  private readonly unread = new Map<string, Element[]>();
  private readonly captures: Captures = new Map();

  constructor(
    private readonly script: Script,
    private readonly options: RunOptions,
  ) {
    this.timeout = options.timeout ?? DEFAULT_TIMEOUT;
    this.nothingWait = options.nothingWait ?? DEFAULT_NOTHING_WAIT;
  }

  async perform(action: Action): Promise<void> {
    if (!this.options.keepUnread) this.dropUnread(action);
    switch (action.kind) {
      case 'connect':
        return this.connect(action.client);
      case 'disconnect':
        return this.disconnect(action.client);
      case 'send':
        return this.send(action.client, this.stanza(action.stanza));
      case 'receive':
        return this.receive(action.client, this.stanza(action.stanza));
      case 'receive-nothing':
        return this.receiveNothing(action.client);
    }
  }

  async disconnectAll(): Promise<void> {
    await Promise.all([...this.connected.values()].map((client) => client.disconnect()));
    this.connected.clear();
  }

  /** A batch's leftovers survive only the same client's immediately following receive steps. */
  private dropUnread(action: Action): void {
    const receiving = action.kind === 'receive' || action.kind === 'receive-nothing' ? action.client : undefined;
    for (const client of this.unread.keys()) if (client !== receiving) this.unread.delete(client);
  }

  private async connect(name: string): Promise<void> {
    if (this.connected.has(name)) throw new StepFailure(`${name} is already connected`);
    const spec = this.script.clients.get(name)!;
    const { spread, trace } = this.options;
    const spreadServer = spread?.[[...this.script.clients.keys()].indexOf(name) % spread.length];
    const client = new ScansionClient({
      jid: spec.jid,
      password: spec.password,
      resource: spec.resource,
      host: spec.connectHost ?? spreadServer?.host ?? this.options.host ?? spec.jid.split('@')[1],
      port: spec.connectPort ?? spreadServer?.port ?? this.options.port ?? DEFAULT_PORT,
      timeout: this.timeout,
      trace: trace && ((direction, xml) => trace(name, direction, xml)),
    });
    this.connected.set(name, client);
    await client.connect();
    this.fullJids.set(name, client.fullJid!);
  }

  /** Disconnecting a client that is not connected is a no-op: scripts in the wild do it. */
  private async disconnect(name: string): Promise<void> {
    const client = this.connected.get(name);
    if (!client) return;
    this.connected.delete(name);
    this.unread.delete(name);
    await client.disconnect();
  }

  private async send(name: string, stanza: Element): Promise<void> {
    await this.client(name).send(withoutDirectives(stanza).toString());
    if (this.options.sendDelay) await sleep(this.options.sendDelay);
  }

  private async receive(name: string, expected: Element): Promise<void> {
    const client = this.client(name);
    let batch = this.unread.get(name) ?? [];
    if (batch.length === 0) {
      if (!(await client.waitForRead(this.timeout))) {
        throw new StepFailure(`received nothing within ${this.timeout} ms`, prettyPrint(expected));
      }
      batch = client.takeReads();
    }
    const [received, ...rest] = batch;
    this.unread.set(name, rest);
    const match = matchStanza(expected, received);
    if (!match.ok) throw new StepFailure(match.reason, prettyPrint(expected), prettyPrint(received));
    for (const [captured, value] of match.captures) this.captures.set(captured, value);
  }

  private async receiveNothing(name: string): Promise<void> {
    const client = this.client(name);
    const leftover = this.unread.get(name) ?? [];
    if (leftover.length === 0 && !(await client.waitForRead(this.nothingWait))) return;
    const [received] = leftover.length > 0 ? leftover : client.takeReads();
    throw new StepFailure('expected nothing, received a stanza', undefined, prettyPrint(received));
  }

  private client(name: string): ScansionClient {
    const client = this.connected.get(name);
    if (!client) throw new StepFailure(`${name} is not connected`);
    return client;
  }

  /** The action's stanza with variables filled in. */
  private stanza(text: string): Element {
    try {
      return parseStanza(substituteVariables(text, (variable) => this.variable(variable)));
    } catch (err) {
      throw new StepFailure((err as Error).message);
    }
  }

  private variable(variable: Variable): string {
    if (variable.kind === 'capture') {
      const value = this.captures.get(variable.name);
      if (value === undefined) throw new Error(`'${variable.name}' has not been captured`);
      return value;
    }
    const { client: name } = variable;
    const spec: ClientSpec | undefined = this.script.clients.get(name);
    if (!spec) throw new Error(`unknown client '${name}'`);
    if (variable.kind === 'bare') return spec.jid;
    const full = this.fullJids.get(name);
    if (full === undefined) throw new Error(`${name}'s full JID is not known before ${name} connects`);
    return full;
  }
}

/** Strips `scansion:` directives, meant for the matcher, from a stanza to send: the prefix is unbound. */
function withoutDirectives(element: Element): Element {
  for (const name of Object.keys(element.attrs)) if (name.startsWith('scansion:')) delete element.attrs[name];
  for (const child of element.elements()) withoutDirectives(child);
  return element;
}
