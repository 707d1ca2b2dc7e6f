// SASLprep (RFC 4013) against the RFC's own examples (§3), its prohibited
// output (§2.3) and the bidi rule (§2.4, RFC 3454 §6), and what it means for
// stored passwords and logins.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveCredential, passwordMatches } from '../../src/xmpp/scram.js';
import { saslprep } from '../../src/jid/stringprep.js';

test('RFC 4013 §3 examples', () => {
  assert.equal(saslprep('I\u00ADX'), 'IX', 'SOFT HYPHEN mapped to nothing');
  assert.equal(saslprep('user'), 'user', 'no transformation');
  assert.equal(saslprep('USER'), 'USER', 'case preserved');
  assert.equal(saslprep('\u00AA'), 'a', 'output is NFKC');
  assert.equal(saslprep('\u2168'), 'IX', 'output is NFKC');
  assert.equal(saslprep('\u0007'), null, 'prohibited character');
  assert.equal(saslprep('\u0627\u0031'), null, 'bidi check');
});

test('non-ASCII spaces become a space; ASCII spaces stay', () => {
  assert.equal(saslprep('a\u00A0b\u3000c\u2003d'), 'a b c d');
  assert.equal(saslprep('pass word'), 'pass word');
});

test('every prohibited table refuses its characters', () => {
  const prohibited: [string, string][] = [
    ['\u001F', 'C.2.1 ASCII control'],
    ['\u007F', 'C.2.1 DELETE'],
    ['\u0085', 'C.2.2 non-ASCII control'],
    ['\u200E', 'C.2.2 / C.8 LEFT-TO-RIGHT MARK'],
    ['\uE000', 'C.3 private use'],
    ['\u{F0000}', 'C.3 plane 15 private use'],
    ['\uFDD0', 'C.4 non-character'],
    ['\uD800', 'C.5 lone surrogate'],
    ['\uFFF9', 'C.6 inappropriate for plain text'],
    ['\u2FF0', 'C.7 ideographic description'],
    ['\u202E', 'C.8 RIGHT-TO-LEFT OVERRIDE'],
    ['\u{E0001}', 'C.9 LANGUAGE TAG'],
  ];
  for (const [char, table] of prohibited) assert.equal(saslprep(`ab${char}cd`), null, table);
});

test('bidi: right-to-left text must not mix with left-to-right and must start and end right-to-left', () => {
  assert.equal(saslprep('\u0627\u0628'), '\u0627\u0628');
  assert.equal(saslprep('\u0627\u0031\u0628'), '\u0627\u0031\u0628', 'neutral digits inside RTL text');
  assert.equal(saslprep('\u0031\u0627'), null, 'does not start right-to-left');
  assert.equal(saslprep('\u0627a\u0628'), null, 'mixes L and RandAL');
});

test('unassigned code points pass a query and are refused for storage', () => {
  assert.equal(saslprep('a\u0221b'), 'a\u0221b');
  assert.equal(saslprep('a\u0221b', true), null);
});

test('a login password is prepared as the stored one was; one SASLprep refuses matches nothing', async () => {
  const credential = await deriveCredential('sha256', saslprep('I\u00ADX\u00A0y', true)!);
  assert.equal(await passwordMatches('sha256', credential, 'IX y'), true);
  assert.equal(await passwordMatches('sha256', credential, '\u2168\u3000y'), true);
  assert.equal(await passwordMatches('sha256', credential, 'IX y\u0007'), false);
});
