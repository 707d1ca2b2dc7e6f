// Stringprep (RFC 3454) with the three profiles XMPP addresses use, nodeprep
// and resourceprep (RFC 6122, appendices A and B) and nameprep (RFC 3491), and
// SASLprep (RFC 4013) for passwords.
// Two spellings that prepare to the same string are the same address, for us as
// for Prosody and ejabberd.
//
// Each profile returns the prepared string, or null when the input is invalid.
// Unassigned code points (table A.1) pass by default, as RFC 3454 allows for
// queries and as Prosody's non-strict prep does; `strict` refuses them, as
// stored strings such as MUC nicknames require.
//
// Normalization is `String.prototype.normalize('NFKC')`, whose Unicode is newer
// than the 3.2 that RFC 3454 fixes. The two differ only on code points that 3.2
// did not assign (refused in strict mode) and a few later-corrected
// decompositions; we accept that rather than ship a second normalizer.

import {
  CASE_FOLDING_EXPANSIONS,
  CASE_FOLDING_RUNS,
  L_CAT,
  MAPPED_TO_NOTHING,
  PROHIBITED_NON_ASCII,
  RAND_AL_CAT,
  UNASSIGNED,
} from './stringprep-tables.js';

interface Profile {
  /** Indexed by ASCII code: 1 when the profile allows that character in its output. */
  asciiAllowed: Uint8Array;
  /** Whether the mapping step applies table B.2 (case folding) besides B.1. */
  caseFold: boolean;
  /** Whether the mapping step turns non-ASCII spaces (C.1.2) into U+0020, as SASLprep does. */
  mapSpaces: boolean;
}

function asciiAllowed(allowed: (code: number) => boolean): Uint8Array {
  const table = new Uint8Array(128);
  for (let code = 0; code < 128; code++) table[code] = allowed(code) ? 1 : 0;
  return table;
}

const ASCII_CONTROL = (code: number) => code < 0x20 || code === 0x7f;
const NODE_FORBIDDEN = new Set([...`"&'/:<>@`].map((char) => char.charCodeAt(0)));

/** RFC 6122 appendix A: prohibits C.1.1 (space), C.2.1 (ASCII controls) and `"&'/:<>@`. */
const NODEPREP: Profile = {
  asciiAllowed: asciiAllowed((code) => code !== 0x20 && !ASCII_CONTROL(code) && !NODE_FORBIDDEN.has(code)),
  caseFold: true,
  mapSpaces: false,
};

/** RFC 6122 appendix B: spaces are allowed, case is kept. */
const RESOURCEPREP: Profile = {
  asciiAllowed: asciiAllowed((code) => !ASCII_CONTROL(code)),
  caseFold: false,
  mapSpaces: false,
};

/** RFC 3491: no ASCII is prohibited here; the STD3 host name rules come on top (jid.ts). */
const NAMEPREP: Profile = {
  asciiAllowed: asciiAllowed(() => true),
  caseFold: true,
  mapSpaces: false,
};

/** RFC 4013: like resourceprep (C.1.1 space allowed, case kept), with non-ASCII spaces mapped to a space. */
const SASLPREP: Profile = { ...RESOURCEPREP, mapSpaces: true };

/** C.1.2, the non-ASCII spaces. */
const NON_ASCII_SPACE = /^[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]$/u;

export function nodeprep(text: string, strict = false): string | null {
  return prepare(text, NODEPREP, strict);
}

export function nameprep(text: string, strict = false): string | null {
  return prepare(text, NAMEPREP, strict);
}

export function resourceprep(text: string, strict = false): string | null {
  return prepare(text, RESOURCEPREP, strict);
}

/** `strict` for a password about to be stored, not for one being checked (RFC 4013 §2.5, RFC 3454 §7). */
export function saslprep(text: string, strict = false): string | null {
  return prepare(text, SASLPREP, strict);
}

function prepare(text: string, profile: Profile, strict: boolean): string | null {
  // Fast path: all-ASCII input needs no table but the profile's ASCII one. Any
  // non-ASCII character takes the full path, even after a prohibited ASCII one,
  // because normalization may compose the two (`<` + U+0338 is U+226E).
  let allowed = true;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) return prepareFully(text, profile, strict);
    if (profile.asciiAllowed[code] === 0) allowed = false;
  }
  if (!allowed) return null;
  return profile.caseFold ? text.toLowerCase() : text;
}

function prepareFully(text: string, profile: Profile, strict: boolean): string | null {
  let mapped = '';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (strict && inRanges(UNASSIGNED, code)) return null;
    // A lone surrogate (C.5) would not survive normalization intact.
    if (code >= 0xd800 && code <= 0xdfff) return null;
    if (inRanges(MAPPED_TO_NOTHING, code)) continue;
    if (profile.mapSpaces && NON_ASCII_SPACE.test(char)) mapped += ' ';
    else mapped += (profile.caseFold && CASE_FOLDING.get(code)) || char;
  }
  const normalized = mapped.normalize('NFKC');

  // Prohibited output, then the bidi rule (RFC 3454 §6): a string with any
  // right-to-left character has no left-to-right one, and starts and ends with
  // a right-to-left character.
  let hasRandAL = false;
  let hasL = false;
  let lastIsRandAL = false;
  for (const char of normalized) {
    const code = char.codePointAt(0)!;
    if (code < 0x80 ? profile.asciiAllowed[code] === 0 : inRanges(PROHIBITED_NON_ASCII, code)) return null;
    const isRandAL = inRanges(RAND_AL_CAT, code);
    if (isRandAL) hasRandAL = true;
    else if (inRanges(L_CAT, code)) hasL = true;
    lastIsRandAL = isRandAL;
  }
  if (hasRandAL && (hasL || !lastIsRandAL || !inRanges(RAND_AL_CAT, normalized.codePointAt(0)!))) return null;
  return normalized;
}

/** Table B.2 as a map from code point to its replacement. */
const CASE_FOLDING: ReadonlyMap<number, string> = buildCaseFolding();

function buildCaseFolding(): Map<number, string> {
  const folding = new Map<number, string>();
  for (let i = 0; i < CASE_FOLDING_RUNS.length; i += 4) {
    const [first, last, stride, delta] = CASE_FOLDING_RUNS.slice(i, i + 4) as [number, number, number, number];
    for (let code = first; code <= last; code += stride) folding.set(code, String.fromCodePoint(code + delta));
  }
  for (const [code, replacement] of CASE_FOLDING_EXPANSIONS) folding.set(code, replacement);
  return folding;
}

/** Binary search in a sorted flat [first, last, first, last, ...] range list. */
function inRanges(ranges: readonly number[], code: number): boolean {
  let low = 0;
  let high = ranges.length / 2 - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (code < ranges[2 * middle]!) high = middle - 1;
    else if (code > ranges[2 * middle + 1]!) low = middle + 1;
    else return true;
  }
  return false;
}
