// SCRAM (RFC 5802, RFC 7677) key material. Accounts store only what this file
// derives from a password: a salt, an iteration count, StoredKey and ServerKey,
// enough to verify a client's proof and to sign the server's answer, never
// enough to log in as the user.

import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { saslprep } from '../jid/stringprep.js';

const pbkdf2Async = promisify(pbkdf2);

export type ScramHash = 'sha1' | 'sha256';

export const SCRAM_HASHES: readonly ScramHash[] = ['sha1', 'sha256'];

/** Iterations for newly derived credentials (Prosody's default). */
export const SCRAM_ITERATIONS = 10000;

export interface ScramCredential {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

const HASH_LENGTH: Record<ScramHash, number> = { sha1: 20, sha256: 32 };

export function hmac(hash: ScramHash, key: Buffer, data: string | Buffer): Buffer {
  return createHmac(hash, key).update(data).digest();
}

export function digest(hash: ScramHash, data: Buffer): Buffer {
  return createHash(hash).update(data).digest();
}

/** `password` is already SASLprepped (see `saslprep`). */
export async function deriveCredential(
  hash: ScramHash,
  password: string,
  salt: Buffer = randomBytes(16),
  iterations: number = SCRAM_ITERATIONS,
): Promise<ScramCredential> {
  const salted = await pbkdf2Async(password, salt, iterations, HASH_LENGTH[hash], hash);
  return {
    salt,
    iterations,
    storedKey: digest(hash, hmac(hash, salted, 'Client Key')),
    serverKey: hmac(hash, salted, 'Server Key'),
  };
}

/** True when `password` (as typed: PLAIN) derives to the credential's StoredKey; a password SASLprep refuses matches nothing. */
export async function passwordMatches(hash: ScramHash, credential: ScramCredential, password: string): Promise<boolean> {
  const prepared = saslprep(password);
  if (prepared === null) return false;
  const derived = await deriveCredential(hash, prepared, credential.salt, credential.iterations);
  return timingSafeEqual(derived.storedKey, credential.storedKey);
}

/** Checks a client proof: H(proof XOR HMAC(StoredKey, AuthMessage)) must be StoredKey. */
export function proofMatches(hash: ScramHash, credential: ScramCredential, authMessage: string, proof: Buffer): boolean {
  const signature = hmac(hash, credential.storedKey, authMessage);
  if (proof.length !== signature.length) return false;
  const clientKey = Buffer.alloc(signature.length);
  for (let i = 0; i < signature.length; i++) clientKey[i] = proof[i] ^ signature[i];
  return timingSafeEqual(digest(hash, clientKey), credential.storedKey);
}

export function serverSignature(hash: ScramHash, credential: ScramCredential, authMessage: string): Buffer {
  return hmac(hash, credential.serverKey, authMessage);
}
