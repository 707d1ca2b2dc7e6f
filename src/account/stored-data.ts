// Where the account services keep each account's data in LMDB, and how all
// of it goes with the account: `conclave deluser` removes it in the account's
// own transaction, so a name registered again starts empty.

import type { Key } from 'lmdb';
import type { Database } from '../store/database.js';

/** Databases keyed by the bare JID alone. */
export const BY_ACCOUNT = { vcards: 'vcards', blocklists: 'blocklists', roster_versions: 'roster_versions' } as const;
/** Databases keyed by [bare JID, …]. */
export const BY_ACCOUNT_RANGE = { private: 'private', offline: 'offline', roster: 'roster', pep: 'pep' } as const;

/** Removes everything the account services keep for `bareJid`; call inside a write transaction. */
export function forgetAccountData(database: Database, bareJid: string): void {
  for (const name of Object.values(BY_ACCOUNT)) void database.openDB({ name }).remove(bareJid);
  for (const name of Object.values(BY_ACCOUNT_RANGE)) {
    const db = database.openDB<unknown, Key[]>({ name });
    for (const key of db.getKeys({ start: [bareJid], end: [bareJid, '\uffff'] })) void db.remove(key);
  }
}
