// Ends the live sessions of an account when it is deleted or its password
// changes, whichever process did it (`conclave deluser` and `passwd` run
// beside the server, on the same LMDB environment): a password change is how
// an intruder is shut out, so it ends the sessions from before it, as in
// Prosody. The account store logs each such change under a counter; the
// server reads that one key on a timer and the log only when it moved, so it
// pays nothing per session while accounts stay as they are. lmdb-js renews
// its read snapshot every event-loop turn, so a read in the timer sees what
// other processes have committed. A deletion also reaches the MUC shards, so
// that the live rooms forget the account as the stored ones already have.

import type { Logger } from '../log.js';
import type { AuthBackend } from './auth.js';
import type { AccountChange } from '../store/accounts.js';
import type { BoundSession, SessionTable } from './sessions.js';

/** How often the counter is read: a deleted account's sessions end within this much. */
const CHECK_INTERVAL_MS = 500;

/** Starts watching the account change log; the returned function stops. */
export function watchAccountChanges(
  auth: AuthBackend,
  /** Each session judges whether a change ends it (c2s-session.ts). */
  sessions: SessionTable<BoundSession & { accountChanged(change: AccountChange): void }>,
  log: Logger,
  /** Told of each deleted account, after its sessions were told to end. */
  accountDeleted: (bareJid: string) => void,
): () => void {
  // Changes from before the start concern no session of this server.
  let seen = auth.accountChangeSequence();
  const timer = setInterval(() => {
    const latest = auth.accountChangeSequence();
    if (latest === seen) return;
    for (const change of auth.accountChangesAfter(seen)) {
      log.info({ account: change.bareJid, change: change.kind }, 'account changed; ending its sessions from before');
      // Copied: an ended session leaves the table.
      for (const session of [...sessions.resources(change.bareJid)]) session.accountChanged(change);
      if (change.kind === 'deleted') accountDeleted(change.bareJid);
    }
    seen = latest;
  }, CHECK_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
