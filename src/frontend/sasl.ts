// SASL exchanges (RFC 6120 §6): PLAIN (RFC 4616), SCRAM-SHA-1/-256
// (RFC 5802, RFC 7677) without channel binding, and ANONYMOUS (RFC 4505) for
// guests. An exchange sees decoded
// bytes and answers with a challenge, success (naming the account) or a
// failure condition; the stream session does the XML and base64.

import { randomBytes, randomUUID } from 'node:crypto';
import type { AuthBackend } from './auth.js';
import { proofMatches, serverSignature, type ScramCredential, type ScramHash } from '../xmpp/scram.js';

/** What the client-first message established, kept for the final message. */
interface ScramFirst {
  gs2Header: string;
  clientFirstBare: string;
  serverFirst: string;
  nonce: string;
  accountJid: string;
  credential: ScramCredential;
}

export type SaslFailureCondition =
  | 'aborted'
  | 'incorrect-encoding'
  | 'invalid-authzid'
  | 'invalid-mechanism'
  | 'malformed-request'
  | 'not-authorized'
  | 'temporary-auth-failure';

export type SaslStep =
  | { kind: 'challenge'; data: string }
  | { kind: 'success'; accountJid: string; data?: string }
  /** `accountJid`: the account a wrong password was given for, to pace the next attempts at it. */
  | { kind: 'failure'; condition: SaslFailureCondition; text?: string; accountJid?: string };

export interface SaslExchange {
  /** Handles the client's next message (the initial response first, possibly empty). */
  step(message: Buffer): Promise<SaslStep>;
}

/** Starts an exchange, or returns undefined when the mechanism is not offered. */
export function startSasl(mechanism: string, backend: AuthBackend): SaslExchange | undefined {
  if (!backend.mechanisms.includes(mechanism)) return undefined;
  switch (mechanism) {
    case 'PLAIN':
      return new PlainExchange(backend);
    case 'SCRAM-SHA-1':
      return new ScramExchange(backend, 'sha1');
    case 'SCRAM-SHA-256':
      return new ScramExchange(backend, 'sha256');
    case 'ANONYMOUS':
      return backend.guestDomain === undefined ? undefined : new AnonymousExchange(backend.guestDomain);
    default:
      return undefined;
  }
}

const fail = (condition: SaslFailureCondition, text?: string): SaslStep => ({ kind: 'failure', condition, text });
const wrongPassword = (accountJid: string): SaslStep => ({ kind: 'failure', condition: 'not-authorized', text: 'Invalid username or password', accountJid });

class PlainExchange implements SaslExchange {
  private asked = false;

  constructor(private readonly backend: AuthBackend) {}

  async step(message: Buffer): Promise<SaslStep> {
    // An empty initial response asks for an empty challenge (RFC 6120 §6.4.2).
    if (message.length === 0 && !this.asked) {
      this.asked = true;
      return { kind: 'challenge', data: '' };
    }
    const parts = message.toString('utf8').split('\0');
    if (parts.length !== 3) return fail('malformed-request', 'Expected authzid NUL authcid NUL password');
    const [authzid, username, password] = parts;
    if (username === '' || password === '') return fail('malformed-request', 'Empty username or password');
    const accountJid = this.backend.accountJid(username);
    if (!accountJid) return fail('not-authorized', 'Invalid username or password');
    if (!(await this.backend.verifyPassword(accountJid, password))) return wrongPassword(accountJid);
    if (authzid !== '' && authzid !== accountJid) return fail('invalid-authzid');
    return { kind: 'success', accountJid };
  }
}

/** RFC 4505: whatever trace the client sends, it is a guest with a fresh random name. */
class AnonymousExchange implements SaslExchange {
  constructor(private readonly guestDomain: string) {}

  async step(): Promise<SaslStep> {
    return { kind: 'success', accountJid: `${randomUUID()}@${this.guestDomain}` };
  }
}

/** RFC 5802 `saslname`: "," and "=" arrive as "=2C" and "=3D"; any other "=" is an error. */
function decodeSaslName(name: string): string | undefined {
  if (/=(?!2C|3D)/.test(name)) return undefined;
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

const PRINTABLE_NONCE = /^[\x21-\x2B\x2D-\x7E]+$/;

class ScramExchange implements SaslExchange {
  private state: { stage: 'first' } | ({ stage: 'final' } & ScramFirst) | { stage: 'done' } = { stage: 'first' };

  constructor(
    private readonly backend: AuthBackend,
    private readonly hash: ScramHash,
  ) {}

  async step(message: Buffer): Promise<SaslStep> {
    const state = this.state;
    this.state = { stage: 'done' };
    const text = message.toString('utf8');
    if (state.stage === 'first') return this.clientFirst(text);
    if (state.stage === 'final') return this.clientFinal(text, state);
    return fail('malformed-request', 'The exchange is over');
  }

  private async clientFirst(text: string): Promise<SaslStep> {
    // gs2-header: a channel-binding flag, an optional authzid, then the bare message.
    const gs2 = /^([ny]),(?:a=([^,]*))?,(.*)$/s.exec(text);
    if (!gs2) {
      if (text.startsWith('p=')) return fail('malformed-request', 'Channel binding is not supported');
      return fail('malformed-request', 'Invalid GS2 header');
    }
    const [, , rawAuthzid, clientFirstBare] = gs2;
    const gs2Header = text.slice(0, text.length - clientFirstBare.length);
    const fields = /^n=([^,]*),r=([^,]*)(?:,.*)?$/s.exec(clientFirstBare);
    if (!fields || clientFirstBare.startsWith('m=')) return fail('malformed-request', 'Invalid client-first-message');
    const username = decodeSaslName(fields[1]);
    const authzid = rawAuthzid === undefined ? '' : decodeSaslName(rawAuthzid);
    const clientNonce = fields[2];
    if (username === undefined || authzid === undefined || !PRINTABLE_NONCE.test(clientNonce)) {
      return fail('malformed-request', 'Invalid client-first-message');
    }
    const accountJid = this.backend.accountJid(username);
    if (!accountJid) return fail('not-authorized', 'Invalid username or password');
    // A client may only act as the account it authenticates as.
    if (authzid !== '' && authzid !== accountJid) return fail('invalid-authzid');
    const credential = await this.backend.scramCredential(accountJid, this.hash);
    const nonce = clientNonce + randomBytes(18).toString('base64');
    const serverFirst = `r=${nonce},s=${credential.salt.toString('base64')},i=${credential.iterations}`;
    this.state = { stage: 'final', gs2Header, clientFirstBare, serverFirst, nonce, accountJid, credential };
    return { kind: 'challenge', data: serverFirst };
  }

  private clientFinal(text: string, state: ScramFirst): SaslStep {
    const match = /^(c=([^,]*),r=([^,]*)(?:,[^,]*)*?),p=([A-Za-z0-9+/=]+)$/s.exec(text);
    if (!match) return fail('malformed-request', 'Invalid client-final-message');
    const [, withoutProof, binding, nonce, proof] = match;
    if (Buffer.from(binding, 'base64').toString('utf8') !== state.gs2Header) {
      return fail('malformed-request', 'Channel binding data does not match the GS2 header');
    }
    if (nonce !== state.nonce) return fail('malformed-request', 'Nonce mismatch');
    const authMessage = `${state.clientFirstBare},${state.serverFirst},${withoutProof}`;
    const { credential } = state;
    if (!proofMatches(this.hash, credential, authMessage, Buffer.from(proof, 'base64'))) return wrongPassword(state.accountJid);
    const verifier = serverSignature(this.hash, credential, authMessage).toString('base64');
    return { kind: 'success', accountJid: state.accountJid, data: 'v=' + verifier };
  }
}
