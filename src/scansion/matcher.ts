// Compares a stanza a script expects with one a client received, by scansion's
// rules. Non-strict: the expected attributes and children must be there, extras
// are fine and children may come in any order. Strict: attributes, children and
// text must be equal, children in the same order. An element is strict if the
// script gives it its own `xmlns` (or sits inside a strict one), unless
// `scansion:strict` says otherwise.
//
// Elements are compared by effective namespace, never by raw `xmlns`
// attributes: a server may declare a namespace once on a parent, a script may
// repeat it on every child. Both sides start in jabber:client, the namespace
// of stanzas on a client stream.
//
// An expected attribute value `{scansion:capture:NAME}` matches any value and,
// when the whole stanza matches, records it as NAME.

import type { Element } from '../xml/element.js';
import { CAPTURE } from './script.js';
import { NS_CLIENT } from '../xmpp/namespaces.js';

/** Values recorded by captures, by name. */
export type Captures = Map<string, string>;

export type MatchResult = { ok: true; captures: Captures } | { ok: false; reason: string };

const STRICT_DIRECTIVE = 'scansion:strict';
const ANY_VALUE = '{scansion:any}';

/** Prefix → namespace URI in scope; the default namespace has the prefix ''. */
type Namespaces = ReadonlyMap<string, string>;

const STANZA_SCOPE: Namespaces = new Map([['', NS_CLIENT]]);

export function matchStanza(expected: Element, received: Element): MatchResult {
  const captures: Captures = new Map();
  const failure = compare(expected, STANZA_SCOPE, received, STANZA_SCOPE, false, '', captures);
  return failure === undefined ? { ok: true, captures } : { ok: false, reason: failure };
}

/** Returns why the elements differ, or undefined when they match (having added their captures). */
function compare(
  expected: Element,
  expectedParentScope: Namespaces,
  received: Element,
  receivedParentScope: Namespaces,
  insideStrict: boolean,
  parentPath: string,
  captures: Captures,
): string | undefined {
  const path = `${parentPath}/${expected.name}`;
  const expectedScope = enterScope(expectedParentScope, expected);
  const receivedScope = enterScope(receivedParentScope, received);
  const expectedName = qualifiedName(expectedScope, expected.name);
  const receivedName = qualifiedName(receivedScope, received.name);
  if (expectedName !== receivedName) return `${path}: expected element ${expectedName}, got ${receivedName}`;

  const directive = expected.attrs[STRICT_DIRECTIVE];
  if (directive !== undefined && directive !== 'true' && directive !== 'false') {
    return `${path}: ${STRICT_DIRECTIVE} must be 'true' or 'false', not '${directive}'`;
  }
  const strict = directive === undefined ? insideStrict || 'xmlns' in expected.attrs : directive === 'true';

  return (
    compareAttributes(expected, received, strict, path, captures) ??
    compareText(expected, received, strict, path) ??
    (strict
      ? compareChildrenStrictly(expected, expectedScope, received, receivedScope, path, captures)
      : compareChildrenLoosely(expected, expectedScope, received, receivedScope, path, captures))
  );
}

function compareAttributes(
  expected: Element,
  received: Element,
  strict: boolean,
  path: string,
  captures: Captures,
): string | undefined {
  const expectedAttrs = ordinaryAttributes(expected);
  const receivedAttrs = ordinaryAttributes(received);
  for (const [name, value] of expectedAttrs) {
    const actual = receivedAttrs.get(name);
    if (actual === undefined) return `${path}: missing attribute ${name}='${value}'`;
    const capture = CAPTURE.exec(value);
    if (capture) captures.set(capture[1], actual);
    else if (value !== ANY_VALUE && value !== actual) return `${path}: attribute ${name} is '${actual}', expected '${value}'`;
  }
  if (strict) {
    for (const [name, value] of receivedAttrs) {
      if (!expectedAttrs.has(name)) return `${path}: unexpected attribute ${name}='${value}' (strict)`;
    }
  }
  return undefined;
}

function compareText(expected: Element, received: Element, strict: boolean, path: string): string | undefined {
  const expectedText = expected.text().trim();
  const receivedText = received.text().trim();
  if (expectedText === receivedText || (!strict && expectedText === '')) return undefined;
  return `${path}: text is '${receivedText}', expected '${expectedText}'`;
}

function compareChildrenStrictly(
  expected: Element,
  expectedScope: Namespaces,
  received: Element,
  receivedScope: Namespaces,
  path: string,
  captures: Captures,
): string | undefined {
  const expectedChildren = expected.elements();
  const receivedChildren = received.elements();
  if (expectedChildren.length !== receivedChildren.length) {
    const names = (children: Element[]) => children.map((child) => child.name).join(', ') || 'none';
    return (
      `${path}: expected ${expectedChildren.length} child elements (${names(expectedChildren)}), ` +
      `got ${receivedChildren.length} (${names(receivedChildren)}) (strict)`
    );
  }
  for (let i = 0; i < expectedChildren.length; i++) {
    const failure = compare(expectedChildren[i], expectedScope, receivedChildren[i], receivedScope, true, path, captures);
    if (failure !== undefined) return failure;
  }
  return undefined;
}

/**
 * Every expected child needs its own matching received child. This is a
 * bipartite matching (augmenting paths), so an early expected child never
 * keeps a received child that a later one needed and could not replace.
 * Each pair records its captures apart; only the chosen pairs' count.
 */
function compareChildrenLoosely(
  expected: Element,
  expectedScope: Namespaces,
  received: Element,
  receivedScope: Namespaces,
  path: string,
  captures: Captures,
): string | undefined {
  const expectedChildren = expected.elements();
  const receivedChildren = received.elements();
  const pairCaptures = expectedChildren.map(() => receivedChildren.map((): Captures => new Map()));
  const failures = expectedChildren.map((child, i) =>
    receivedChildren.map((candidate, j) =>
      compare(child, expectedScope, candidate, receivedScope, false, path, pairCaptures[i][j]),
    ),
  );
  const owner: (number | undefined)[] = receivedChildren.map(() => undefined);
  const assign = (i: number, visited: Set<number>): boolean => {
    for (let j = 0; j < receivedChildren.length; j++) {
      if (failures[i][j] !== undefined || visited.has(j)) continue;
      visited.add(j);
      const previous = owner[j];
      if (previous === undefined || assign(previous, visited)) {
        owner[j] = i;
        return true;
      }
    }
    return false;
  };
  for (let i = 0; i < expectedChildren.length; i++) {
    if (assign(i, new Set())) continue;
    const child = expectedChildren[i];
    if (failures[i].some((failure) => failure === undefined)) {
      return `${path}/${child.name}: every received child that matches it is needed by another expected child`;
    }
    // The received child with the same name is the one the script most likely meant.
    const sameName = receivedChildren.findIndex((candidate) => candidate.name === child.name);
    return sameName >= 0 ? failures[i][sameName] : `${path}/${child.name}: missing child element`;
  }
  owner.forEach((i, j) => {
    if (i !== undefined) for (const [name, value] of pairCaptures[i][j]) captures.set(name, value);
  });
  return undefined;
}

function enterScope(parent: Namespaces, element: Element): Namespaces {
  let scope: Map<string, string> | undefined;
  for (const [name, value] of Object.entries(element.attrs)) {
    const prefix = name === 'xmlns' ? '' : name.startsWith('xmlns:') ? name.slice(6) : undefined;
    if (prefix === undefined) continue;
    scope ??= new Map(parent);
    scope.set(prefix, value);
  }
  return scope ?? parent;
}

/** `{namespace}local`, resolving the element's prefix (if any) in scope. */
function qualifiedName(scope: Namespaces, name: string): string {
  const colon = name.indexOf(':');
  const prefix = colon < 0 ? '' : name.slice(0, colon);
  return `{${scope.get(prefix) ?? ''}}${name.slice(colon + 1)}`;
}

/** Attributes that are compared: not namespace declarations, not scansion directives. */
function ordinaryAttributes(element: Element): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const [name, value] of Object.entries(element.attrs)) {
    if (name === 'xmlns' || name.startsWith('xmlns:') || name.startsWith('scansion:')) continue;
    attrs.set(name, value);
  }
  return attrs;
}
