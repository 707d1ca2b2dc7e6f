// Failed logins paced (issue 11): each failure is answered after a delay that
// doubles with the recent failures of the same account and of the same remote
// address, whichever has more, so guessing passwords gets slow from any number
// of connections. The delay is a timer, not work; a login that succeeds
// forgets the account's failures. The tables are bounded: the oldest entry
// goes first, and an entry quiet for FORGET_AFTER_MS counts as none.

import type { Settings } from '../config/load.js';

/** After this long without a failure an account or address starts afresh. */
const FORGET_AFTER_MS = 15 * 60_000;
/** Accounts and addresses remembered in each table. */
const MAX_ENTRIES = 100_000;

interface Failures {
  count: number;
  last: number;
}

export class LoginPacing {
  private readonly byAccount = new Map<string, Failures>();
  private readonly byAddress = new Map<string, Failures>();

  constructor(private readonly settings: Settings) {}

  /** Records a failed login and returns how long to wait before answering it, in milliseconds. */
  failed(account: string | undefined, address: string): number {
    const now = Date.now();
    const count = Math.max(account === undefined ? 0 : note(this.byAccount, account, now), note(this.byAddress, address, now));
    const { failure_delay_ms: first, failure_delay_max_ms: max } = this.settings.auth;
    return Math.min(first * 2 ** Math.min(count - 1, 30), max);
  }

  succeeded(account: string): void {
    this.byAccount.delete(account);
  }
}

/** Counts one more failure for `key`; returns its recent count. */
function note(table: Map<string, Failures>, key: string, now: number): number {
  const entry = table.get(key);
  const count = entry !== undefined && now - entry.last < FORGET_AFTER_MS ? entry.count + 1 : 1;
  // Re-inserted, so the map's order is least recently failed first.
  table.delete(key);
  if (table.size >= MAX_ENTRIES) table.delete(table.keys().next().value!);
  table.set(key, { count, last: now });
  return count;
}
