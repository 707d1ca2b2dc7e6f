// JIDs (RFC 6122): parsing with stringprep, so that two spellings of one
// address become one string, and cheap unprepared helpers for the hot path.
//
// A JID is plain data (no class) so it crosses worker boundaries as is.
// `@xmpp/jid` is not used to parse: it lowercases without stringprep and
// silently XEP-0106-escapes local parts that contain prohibited characters,
// where a server must refuse them.

import { isIPv6 } from 'node:net';
import { nameprep, nodeprep, resourceprep } from './stringprep.js';

export interface Jid {
  /** The local part (before `@`), or '' when absent. */
  local: string;
  domain: string;
  /** The resource (after `/`), or '' when absent. */
  resource: string;
}

/** RFC 6122 §2.1: each part is at most 1023 bytes once prepared. */
const MAX_PART_BYTES = 1023;

/**
 * Splits a JID at the first `/` and then at the first `@` before it, and
 * prepares each part. Null when a part is empty (after a present `@` or `/`),
 * too long, or contains characters its profile refuses.
 */
export function parseJid(text: string): Jid | null {
  const slash = text.indexOf('/');
  const bare = slash === -1 ? text : text.slice(0, slash);
  const at = bare.indexOf('@');

  const domain = prepareDomain(at === -1 ? bare : bare.slice(at + 1));
  if (domain === null) return null;
  const local = at === -1 ? '' : preparePart(nodeprep(bare.slice(0, at)));
  if (local === null) return null;
  const resource = slash === -1 ? '' : preparePart(resourceprep(text.slice(slash + 1)));
  if (resource === null) return null;
  return { local, domain, resource };
}

/** The prepared string form of a JID, or null when it is malformed. */
export function prepJid(text: string): string | null {
  const jid = parseJid(text);
  return jid && formatJid(jid);
}

export function formatJid(jid: Jid): string {
  let out = jid.local === '' ? jid.domain : jid.local + '@' + jid.domain;
  if (jid.resource !== '') out += '/' + jid.resource;
  return out;
}

/** The bare part of an (already prepared) JID string; no preparation. */
export function bareJid(text: string): string {
  const slash = text.indexOf('/');
  return slash === -1 ? text : text.slice(0, slash);
}

/** The resource of an (already prepared) JID string, or ''; no preparation. */
export function jidResource(text: string): string {
  const slash = text.indexOf('/');
  return slash === -1 ? '' : text.slice(slash + 1);
}

/** The domain of an (already prepared) JID string; no preparation. */
export function jidDomain(text: string): string {
  const bare = bareJid(text);
  return bare.slice(bare.indexOf('@') + 1);
}

/**
 * A MUC nickname prepared the way Prosody prepares it: strict resourceprep,
 * which also refuses code points unassigned in Unicode 3.2. Null when empty,
 * too long or invalid.
 */
export function prepNickname(nick: string): string | null {
  return preparePart(resourceprep(nick, true));
}

function preparePart(prepared: string | null): string | null {
  if (prepared === null || prepared === '' || !fitsPartLimit(prepared)) return null;
  return prepared;
}

function fitsPartLimit(part: string): boolean {
  // UTF-8 takes at least one byte per UTF-16 unit and at most three.
  if (part.length * 3 <= MAX_PART_BYTES) return true;
  return part.length <= MAX_PART_BYTES && Buffer.byteLength(part, 'utf8') <= MAX_PART_BYTES;
}

/** Host names that are already valid and need only lowercasing (the common case). */
const ASCII_HOST_NAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?$/i;

/** The label separators IDNA recognizes (RFC 3490 §3.1): full stops of several scripts. */
const LABEL_SEPARATOR = /[.\u3002\uff0e\uff61]/;

/**
 * RFC 6122 §2.2: an IPv6 literal in brackets, or a host name whose labels are
 * each nameprepped (per label, as IDNA does, so the bidi rule applies per
 * label) and then follow the STD3 rules for their ASCII characters: letters,
 * digits and inner hyphens only. One trailing dot (the DNS root) is dropped.
 * Labels stay in Unicode; an `xn--` label is not decoded, so it does not
 * compare equal to its Unicode form.
 */
function prepareDomain(text: string): string | null {
  if (text.startsWith('[')) {
    return text.endsWith(']') && isIPv6(text.slice(1, -1)) ? text.toLowerCase() : null;
  }
  if (ASCII_HOST_NAME.test(text)) {
    const domain = (text.endsWith('.') ? text.slice(0, -1) : text).toLowerCase();
    return fitsPartLimit(domain) ? domain : null;
  }
  const labels = text.split(LABEL_SEPARATOR);
  if (labels.length > 1 && labels[labels.length - 1] === '') labels.pop();
  const prepared: string[] = [];
  for (const label of labels) {
    const preparedLabel = nameprep(label);
    if (preparedLabel === null || !isValidLabel(preparedLabel)) return null;
    prepared.push(preparedLabel);
  }
  return preparePart(prepared.join('.'));
}

function isValidLabel(label: string): boolean {
  if (label === '' || label.startsWith('-') || label.endsWith('-')) return false;
  let ascii = true;
  for (let i = 0; i < label.length; i++) {
    const code = label.charCodeAt(i);
    if (code >= 0x80) ascii = false;
    else if (!isLowercaseLetterDigitHyphen(code)) return false;
  }
  // The DNS limit of 63 octets; a Unicode label's limit is on its ACE form, which we do not compute.
  return !ascii || label.length <= 63;
}

/** Nameprep has folded case already, so only lowercase letters remain. */
function isLowercaseLetterDigitHyphen(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2d;
}
