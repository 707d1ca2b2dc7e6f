// User accounts of the `internal` auth back end, keyed by normalized bare JID.
// An account holds salted SCRAM credentials for SHA-1 and SHA-256, never the
// password: PLAIN logins are checked by deriving from the offered password.

import type { Database } from './database.js';
import { deriveCredential, type ScramCredential, type ScramHash } from '../frontend/scram.js';

/** How a credential is kept in LMDB (binary fields as base64). */
interface StoredCredential {
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
}

interface StoredAccount {
  scram: Record<ScramHash, StoredCredential>;
}

export class AccountStore {
  private readonly db;

  constructor(database: Database) {
    this.db = database.openDB<StoredAccount, string>({ name: 'accounts' });
  }

  credential(bareJid: string, hash: ScramHash): ScramCredential | undefined {
    const stored = this.db.get(bareJid)?.scram[hash];
    if (!stored) return undefined;
    return {
      salt: Buffer.from(stored.salt, 'base64'),
      iterations: stored.iterations,
      storedKey: Buffer.from(stored.storedKey, 'base64'),
      serverKey: Buffer.from(stored.serverKey, 'base64'),
    };
  }

  /** Creates the account; false when it already exists. */
  async create(bareJid: string, password: string): Promise<boolean> {
    const account = await storedAccount(password);
    return this.ifExists(bareJid, false, () => void this.db.put(bareJid, account));
  }

  /** Replaces the account's credentials; false when there is no such account. */
  async setPassword(bareJid: string, password: string): Promise<boolean> {
    const account = await storedAccount(password);
    return this.ifExists(bareJid, true, () => void this.db.put(bareJid, account));
  }

  /** Deletes the account; false when there was none. */
  delete(bareJid: string): Promise<boolean> {
    return this.ifExists(bareJid, true, () => void this.db.remove(bareJid));
  }

  /** Makes the change in one transaction if the account exists (or not) as expected; resolves with whether it did. */
  private ifExists(bareJid: string, expected: boolean, change: () => void): Promise<boolean> {
    return this.db.transaction(() => {
      if ((this.db.get(bareJid) !== undefined) !== expected) return false;
      change();
      return true;
    });
  }
}

async function storedAccount(password: string): Promise<StoredAccount> {
  const [sha1, sha256] = await Promise.all([deriveCredential('sha1', password), deriveCredential('sha256', password)]);
  return { scram: { sha1: toStored(sha1), sha256: toStored(sha256) } };
}

function toStored(credential: ScramCredential): StoredCredential {
  return {
    salt: credential.salt.toString('base64'),
    iterations: credential.iterations,
    storedKey: credential.storedKey.toString('base64'),
    serverKey: credential.serverKey.toString('base64'),
  };
}
