// SCRAM key derivation and proof checking against the published examples of
// RFC 5802 §5 (SHA-1) and RFC 7677 §3 (SHA-256).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveCredential, passwordMatches, proofMatches, serverSignature, type ScramHash } from '../../src/xmpp/scram.js';

const EXAMPLES: { hash: ScramHash; salt: string; clientNonce: string; nonce: string; proof: string; verifier: string }[] = [
  {
    hash: 'sha1',
    salt: 'QSXCR+Q6sek8bf92',
    clientNonce: 'fyko+d2lbbFgONRv9qkxdawL',
    nonce: 'fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j',
    proof: 'v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
    verifier: 'rmF9pqV8S7suAoZWja4dJRkFsKQ=',
  },
  {
    hash: 'sha256',
    salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
    clientNonce: 'rOprNGfwEbeRWgbNEkqO',
    nonce: 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
    proof: 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    verifier: '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
  },
];

for (const example of EXAMPLES) {
  test(`${example.hash}: the RFC example's proof matches and the server signature is the RFC's`, async () => {
    const credential = await deriveCredential(example.hash, 'pencil', Buffer.from(example.salt, 'base64'), 4096);
    const authMessage =
      `n=user,r=${example.clientNonce},` +
      `r=${example.nonce},s=${example.salt},i=4096,` +
      `c=biws,r=${example.nonce}`;
    assert.equal(proofMatches(example.hash, credential, authMessage, Buffer.from(example.proof, 'base64')), true);
    assert.equal(serverSignature(example.hash, credential, authMessage).toString('base64'), example.verifier);
    const wrong = Buffer.from(example.proof, 'base64');
    wrong[0] ^= 1;
    assert.equal(proofMatches(example.hash, credential, authMessage, wrong), false);
    assert.equal(await passwordMatches(example.hash, credential, 'pencil'), true);
    assert.equal(await passwordMatches(example.hash, credential, 'pen'), false);
  });
}
