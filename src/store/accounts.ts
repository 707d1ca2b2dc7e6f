// User accounts of the `internal` auth back end, keyed by normalized bare JID.
// An account holds salted SCRAM credentials for SHA-1 and SHA-256, never the
// password: PLAIN logins are checked by deriving from the offered password.
//
// Accounts are changed by `conclave deluser` and `passwd`, usually in another
// process than the server's. So that the server can end the sessions of a
// deleted account, or those from before a password change, each such change
// is also written, in the same transaction, to a log numbered by a counter:
// the server reads the counter key on a timer and only reads the log when it
// moved.

import { deriveCredential, type ScramCredential, type ScramHash } from '../xmpp/scram.js';
import { saslprep } from '../jid/stringprep.js';
import type { Database } from './database.js';
import type { AccountsStore } from './interface.js';

/** How a credential is kept (binary fields as base64). */
interface StoredCredential {
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
}

export interface StoredAccount {
  scram: Record<ScramHash, StoredCredential>;
}

/** A change that ends the sessions its account had before it. */
export interface AccountChange {
  /** Its number in the log; the counter is the last one given out. */
  sequence: number;
  bareJid: string;
  kind: 'deleted' | 'password-changed';
}

/** How a change is kept in the log; `at` (ms since the epoch) is for pruning. */
interface StoredChange {
  jid: string;
  kind: AccountChange['kind'];
  at: number;
}

/** The log's counter key. Entries are keyed 1, 2, ...; numbers sort before strings, so a range over them never meets it. */
const SEQUENCE_KEY = 'sequence';
/** How long the log keeps an entry: far more than a running server takes to read it, not long enough to keep deleted JIDs around. */
export const CHANGE_RETENTION_MS = 60 * 60 * 1000;

export class AccountStore implements AccountsStore {
  private readonly db;
  private readonly changes;

  constructor(private readonly database: Database) {
    this.db = database.openDB<StoredAccount, string>({ name: 'accounts' });
    this.changes = database.openDB<StoredChange | number, number | typeof SEQUENCE_KEY>({ name: 'account_changes' });
  }

  /** No account at all: a fresh server nobody can log in to yet. */
  isEmpty(): boolean {
    return this.db.getKeysCount({ limit: 1 }) === 0;
  }

  credential(bareJid: string, hash: ScramHash): ScramCredential | undefined {
    return credentialOf(this.db.get(bareJid), hash);
  }

  /** Creates the account; false when it already exists. */
  async create(bareJid: string, password: string): Promise<boolean> {
    const account = await storedAccount(password);
    return this.ifExists(bareJid, false, () => void this.db.put(bareJid, account));
  }

  /** Replaces the account's credentials and logs the change; false when there is no such account. */
  async setPassword(bareJid: string, password: string): Promise<boolean> {
    const account = await storedAccount(password);
    return this.ifExists(bareJid, true, () => {
      this.db.put(bareJid, account);
      this.logChange(bareJid, 'password-changed');
    });
  }

  /**
   * Deletes the account and logs the deletion; false when there was none.
   * `alsoForget` runs in the same transaction, to remove the account's data
   * elsewhere (its room affiliations) with it or not at all.
   */
  delete(bareJid: string, alsoForget?: () => void): Promise<boolean> {
    return this.ifExists(bareJid, true, () => {
      this.db.remove(bareJid);
      this.logChange(bareJid, 'deleted');
      alsoForget?.();
    });
  }

  /** The number of the last logged change (0 before any): one key read. */
  changeSequence(): number {
    return (this.changes.get(SEQUENCE_KEY) as number | undefined) ?? 0;
  }

  /** The logged changes numbered after `sequence`, oldest first. */
  changesAfter(sequence: number): AccountChange[] {
    // Every login asks at bind: one key read, and a range only when the counter moved.
    const last = this.changeSequence();
    if (last <= sequence) return [];
    const changes: AccountChange[] = [];
    for (const { key, value } of this.changes.getRange({ start: sequence + 1, end: last + 1 })) {
      const { jid, kind } = value as StoredChange;
      changes.push({ sequence: key as number, bareJid: jid, kind });
    }
    return changes;
  }

  /** Appends to the change log and prunes it; runs inside the change's transaction. */
  private logChange(bareJid: string, kind: AccountChange['kind']): void {
    const sequence = this.changeSequence() + 1;
    const now = Date.now();
    this.changes.put(SEQUENCE_KEY, sequence);
    this.changes.put(sequence, { jid: bareJid, kind, at: now });
    const expired: number[] = [];
    for (const { key, value } of this.changes.getRange({ start: 1, end: sequence })) {
      if ((value as StoredChange).at > now - CHANGE_RETENTION_MS) break;
      expired.push(key as number);
    }
    for (const key of expired) this.changes.remove(key);
  }

  /**
   * Makes the change in one transaction if the account exists (or not) as
   * expected; resolves with whether it did, once as durable as configured.
   */
  private ifExists(bareJid: string, expected: boolean, change: () => void): Promise<boolean> {
    const write = this.db.transaction(() => {
      if ((this.db.get(bareJid) !== undefined) !== expected) return false;
      change();
      return true;
    });
    return this.database.acknowledged(write);
  }
}

/** A password SASLprep (RFC 4013) refuses to store: a control, private-use or unassigned character, or mixed directions. */
export class PasswordRefused extends Error {}

export async function storedAccount(password: string): Promise<StoredAccount> {
  const prepared = saslprep(password, true);
  if (prepared === null) {
    throw new PasswordRefused('the password has a character SASLprep (RFC 4013) prohibits (a control, private-use or unassigned character, or mixed text directions)');
  }
  const [sha1, sha256] = await Promise.all([deriveCredential('sha1', prepared), deriveCredential('sha256', prepared)]);
  return { scram: { sha1: toStored(sha1), sha256: toStored(sha256) } };
}

export function credentialOf(account: StoredAccount | undefined, hash: ScramHash): ScramCredential | undefined {
  const stored = account?.scram[hash];
  if (!stored) return undefined;
  return {
    salt: Buffer.from(stored.salt, 'base64'),
    iterations: stored.iterations,
    storedKey: Buffer.from(stored.storedKey, 'base64'),
    serverKey: Buffer.from(stored.serverKey, 'base64'),
  };
}

function toStored(credential: ScramCredential): StoredCredential {
  return {
    salt: credential.salt.toString('base64'),
    iterations: credential.iterations,
    storedKey: credential.storedKey.toString('base64'),
    serverKey: credential.serverKey.toString('base64'),
  };
}
