// The scansion script format (`.scs`): a header of `[Client] Name` blocks, a
// line of dashes, then one action per paragraph. Stanza text stays text here:
// it can only become an Element at run time, once `${Name's full JID}` is known.
// The parser still checks each stanza with placeholder JIDs, so that a typo
// fails with its line number before any connection is made.

import { readFile } from 'node:fs/promises';
import { escapeAttribute } from '../xml/escape.js';
import { parseElement } from '../xml/stream-parser.js';
import type { Element } from '../xml/element.js';

export interface ClientSpec {
  name: string;
  jid: string;
  password: string;
  resource?: string;
  connectHost?: string;
  connectPort?: number;
  line: number;
}

export type Action =
  | { kind: 'connect'; client: string; line: number }
  | { kind: 'disconnect'; client: string; line: number }
  | { kind: 'send'; client: string; stanza: string; line: number }
  | { kind: 'receive'; client: string; stanza: string; line: number }
  | { kind: 'receive-nothing'; client: string; line: number };

export interface Script {
  file: string;
  clients: Map<string, ClientSpec>;
  actions: Action[];
}

export class ScriptParseError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
  }
}

/** Which JID a `${...}` variable names. */
export type JidKind = 'full' | 'bare';

export type JidLookup = (client: string, kind: JidKind) => string;

const VARIABLE = /\$\{([^}]*?)'s (full JID|JID)\}/g;
const ANY_VARIABLE = /\$\{[^}]*\}/;
const SEPARATOR = /^-{3,}\s*$/;
const COMMENT = /^\s*(#|\/\/|--)/;
const CLIENT_HEADER = /^\[Client\]\s+(\S.*?)\s*$/;
const CLIENT_PROPERTY = /^\s+([a-z_]+)\s*:\s*(.*?)\s*$/;
const ACTION = /^(\S.*?)\s+(connects|disconnects|sends|receives)(:?)\s*(.*?)\s*$/;

export async function loadScript(file: string): Promise<Script> {
  return parseScript(await readFile(file, 'utf8'), file);
}

export function parseScript(text: string, file: string): Script {
  const lines = text.split(/\r?\n/);
  function fail(index: number, detail: string): never {
    throw new ScriptParseError(file, index + 1, detail);
  }

  const clients = new Map<string, ClientSpec>();
  let index = 0;
  let current: ClientSpec | undefined;
  for (; index < lines.length; index++) {
    const line = lines[index];
    if (SEPARATOR.test(line)) break;
    if (line.trim() === '' || COMMENT.test(line)) continue;
    const header = CLIENT_HEADER.exec(line);
    if (header) {
      if (current) finishClient(current, fail);
      if (clients.has(header[1])) fail(index, `client '${header[1]}' is defined twice`);
      current = { name: header[1], jid: '', password: '', line: index + 1 };
      clients.set(current.name, current);
      continue;
    }
    const property = CLIENT_PROPERTY.exec(line);
    if (!property || !current) fail(index, `expected '[Client] Name' or an indented property, got '${line.trim()}'`);
    setProperty(current, property[1], property[2], (detail) => fail(index, detail));
  }
  if (current) finishClient(current, fail);
  if (index === lines.length) fail(index - 1, 'missing the line of dashes that ends the header');

  const actions: Action[] = [];
  for (index++; index < lines.length; index++) {
    const line = lines[index];
    if (line.trim() === '' || COMMENT.test(line)) continue;
    if (/^\s/.test(line)) fail(index, 'indented text outside of a sends/receives block');
    const match = ACTION.exec(line);
    if (!match) fail(index, `expected an action ('Name connects', 'Name sends:', ...), got '${line}'`);
    const [, client, verb, , rest] = match;
    if (!clients.has(client)) fail(index, `unknown client '${client}'`);
    const lineNumber = index + 1;
    if (verb === 'connects' || verb === 'disconnects') {
      if (rest !== '') fail(index, `unexpected text after '${verb}'`);
      actions.push({ kind: verb === 'connects' ? 'connect' : 'disconnect', client, line: lineNumber });
      continue;
    }
    if (verb === 'receives' && rest === 'nothing') {
      actions.push({ kind: 'receive-nothing', client, line: lineNumber });
      continue;
    }
    // The stanza is any text on the action line plus the indented lines below it.
    const block = rest === '' ? [] : [rest];
    while (index + 1 < lines.length && (/^\s/.test(lines[index + 1]) || lines[index + 1] === '')) {
      block.push(lines[++index]);
    }
    const stanza = block.join('\n').trim();
    if (stanza === '') fail(lineNumber - 1, `'${client} ${verb}' has no stanza`);
    checkStanza(stanza, clients, (detail) => fail(lineNumber - 1, detail));
    actions.push({ kind: verb === 'sends' ? 'send' : 'receive', client, stanza, line: lineNumber });
  }
  return { file, clients, actions };
}

function setProperty(client: ClientSpec, key: string, value: string, fail: (detail: string) => never): void {
  switch (key) {
    case 'jid':
      if (!/^[^@/\s]+@[^@/\s]+$/.test(value)) fail(`'${value}' is not a bare JID`);
      client.jid = value;
      return;
    case 'password':
      client.password = value;
      return;
    case 'resource':
      client.resource = value;
      return;
    case 'connect_host':
      client.connectHost = value;
      return;
    case 'connect_port': {
      const port = Number(value);
      if (!Number.isInteger(port) || port <= 0 || port > 65535) fail(`'${value}' is not a port number`);
      client.connectPort = port;
      return;
    }
    default:
      fail(`unknown client property '${key}'`);
  }
}

function finishClient(client: ClientSpec, fail: (index: number, detail: string) => never): void {
  if (client.jid === '') fail(client.line - 1, `client '${client.name}' has no jid`);
}

/** Parse-time check: known variables only, and well-formed XML. */
function checkStanza(stanza: string, clients: Map<string, ClientSpec>, fail: (detail: string) => never): void {
  let text: string;
  try {
    text = substituteVariables(stanza, (client, kind) => {
      const spec = clients.get(client);
      if (!spec) throw new Error(`unknown client '${client}' in a variable`);
      return kind === 'bare' ? spec.jid : `${spec.jid}/resource`;
    });
    parseStanza(text);
  } catch (err) {
    fail((err as Error).message);
  }
}

/** Replaces `${Name's full JID}` and `${Name's JID}`; escaped, so valid in text and attributes. */
export function substituteVariables(stanza: string, lookup: JidLookup): string {
  const replaced = stanza.replace(VARIABLE, (_, client: string, which: string) =>
    escapeAttribute(lookup(client, which === 'JID' ? 'bare' : 'full')),
  );
  const unknown = ANY_VARIABLE.exec(replaced);
  if (unknown) throw new Error(`unknown variable '${unknown[0]}'`);
  return replaced;
}

export function parseStanza(text: string): Element {
  try {
    return parseElement(text);
  } catch (err) {
    throw new Error(`invalid XML: ${(err as Error).message}`);
  }
}

/** How a failure report names an action, e.g. "Romeo receives". */
export function describeAction(action: Action): string {
  switch (action.kind) {
    case 'connect':
      return `${action.client} connects`;
    case 'disconnect':
      return `${action.client} disconnects`;
    case 'send':
      return `${action.client} sends`;
    case 'receive':
      return `${action.client} receives`;
    case 'receive-nothing':
      return `${action.client} receives: nothing`;
  }
}
