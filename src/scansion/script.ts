// The scansion script format (`.scs`): a header of comment lines (the first is
// the title; `# tags: a, b` lists tags) and `[Client] Name` blocks, a line of
// dashes, then one action per paragraph. Stanza text stays text here: it can
// only become an Element at run time, once `${Name's full JID}` and captured
// values (`${NAME}`, from `{scansion:capture:NAME}` in an earlier receive) are
// known. The parser still checks each stanza with placeholder values, so that a
// typo fails with its line number before any connection is made.

import { readFile } from 'node:fs/promises';
import { escapeAttribute } from '../xml/escape.js';
import { parseElement } from '../xml/stream-parser.js';
import type { Element } from '../xml/element.js';

export interface ClientSpec {
  name: string;
  /** The bare JID; a full JID in the script sets `resource` too. */
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
  tags: string[];
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

/** What a `${...}` variable names: a client's JID or a captured value. */
export type Variable = { kind: 'full' | 'bare'; client: string } | { kind: 'capture'; name: string };

export type VariableLookup = (variable: Variable) => string;

const VARIABLE = /\$\{([^}]*)\}/g;
const JID_VARIABLE = /^(.*?)'s (full JID|JID)$/;
const CAPTURE_NAME = /^[\w.-]+$/;
/** `{scansion:capture:NAME}` as an expected attribute value: matches any value and records it. */
export const CAPTURE = /^\{scansion:capture:([\w.-]+)\}$/;
const CAPTURES_IN_TEXT = /\{scansion:capture:([\w.-]+)\}/g;
const TAGS = /^#+\s*tags\s*:\s*(.*?)\s*$/i;
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
  const tags: string[] = [];
  let index = 0;
  let current: ClientSpec | undefined;
  for (; index < lines.length; index++) {
    const line = lines[index];
    if (SEPARATOR.test(line)) break;
    const tagList = TAGS.exec(line);
    if (tagList) tags.push(...tagList[1].split(/[\s,]+/).filter((tag) => tag !== ''));
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
  const captures = new Set<string>();
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
    const captured = [...stanza.matchAll(CAPTURES_IN_TEXT)].map((match) => match[1]);
    if (verb === 'sends' && captured.length > 0) fail(lineNumber - 1, 'captures belong in received stanzas');
    checkStanza(stanza, clients, captures, (detail) => fail(lineNumber - 1, detail));
    for (const name of captured) captures.add(name);
    actions.push({ kind: verb === 'sends' ? 'send' : 'receive', client, stanza, line: lineNumber });
  }
  return { file, tags, clients, actions };
}

function setProperty(client: ClientSpec, key: string, value: string, fail: (detail: string) => never): void {
  switch (key) {
    case 'jid': {
      // scansion takes a full JID as the JID to connect as: its resource is the one bound.
      const jid = /^([^@/\s]+@[^@/\s]+)(?:\/(.+))?$/.exec(value);
      if (!jid) fail(`'${value}' is not a JID (user@domain or user@domain/resource)`);
      client.jid = jid[1];
      if (jid[2] !== undefined) setResource(client, jid[2], fail);
      return;
    }
    case 'password':
      client.password = value;
      return;
    case 'resource':
      setResource(client, value, fail);
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

function setResource(client: ClientSpec, resource: string, fail: (detail: string) => never): void {
  if (client.resource !== undefined && client.resource !== resource) {
    fail(`client '${client.name}' is given two resources, '${client.resource}' and '${resource}'`);
  }
  client.resource = resource;
}

function finishClient(client: ClientSpec, fail: (index: number, detail: string) => never): void {
  if (client.jid === '') fail(client.line - 1, `client '${client.name}' has no jid`);
}

/** Parse-time check: known clients and earlier captures only, and well-formed XML. */
function checkStanza(
  stanza: string,
  clients: Map<string, ClientSpec>,
  captures: Set<string>,
  fail: (detail: string) => never,
): void {
  try {
    const text = substituteVariables(stanza, (variable) => {
      if (variable.kind === 'capture') {
        if (!captures.has(variable.name)) throw new Error(`'\${${variable.name}}' is not captured by an earlier step`);
        return 'captured';
      }
      const spec = clients.get(variable.client);
      if (!spec) throw new Error(`unknown client '${variable.client}' in a variable`);
      return variable.kind === 'bare' ? spec.jid : `${spec.jid}/resource`;
    });
    parseStanza(text);
  } catch (err) {
    fail((err as Error).message);
  }
}

/**
 * Replaces `${Name's full JID}`, `${Name's JID}` and `${NAME}` (a captured
 * value); escaped, so valid in text and attributes.
 */
export function substituteVariables(stanza: string, lookup: VariableLookup): string {
  return stanza.replace(VARIABLE, (whole, inner: string) => {
    const jid = JID_VARIABLE.exec(inner);
    if (jid) return escapeAttribute(lookup({ kind: jid[2] === 'JID' ? 'bare' : 'full', client: jid[1] }));
    if (CAPTURE_NAME.test(inner)) return escapeAttribute(lookup({ kind: 'capture', name: inner }));
    throw new Error(`unknown variable '${whole}'`);
  });
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
