// Authentication back ends. `insecure` accepts any password (load generators,
// scansion runs) and is refused on anything but a loopback address; `internal`
// checks against the salted SCRAM credentials of the account store.

import { createHmac, randomBytes } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError, type Settings } from '../config/load.js';
import { prepJid } from '../jid/jid.js';
import type { AccountChange } from '../store/accounts.js';
import type { AccountsStore } from '../store/interface.js';
import { deriveCredential, passwordMatches, SCRAM_ITERATIONS, type ScramCredential, type ScramHash } from '../xmpp/scram.js';

export interface AuthBackend {
  /** SASL mechanisms to offer, strongest first. */
  readonly mechanisms: readonly string[];
  /** Set on the guests' back end: ANONYMOUS logs in as a fresh name at this domain. */
  readonly guestDomain?: string;
  /** The account a SASL username names, or undefined when it is not a valid localpart. */
  accountJid(username: string): string | undefined;
  verifyPassword(accountJid: string, password: string): Promise<boolean>;
  /** Whether the account exists (any name does, for a back end without accounts). */
  accountExists(accountJid: string): boolean;
  /**
   * The account's SCRAM credential. For an account that does not exist it is a
   * decoy no proof matches, so the exchange does not reveal which accounts exist.
   */
  scramCredential(accountJid: string, hash: ScramHash): Promise<ScramCredential>;
  /**
   * The number of the last logged account change (a deletion or a password
   * change, maybe by another process); always 0 where accounts do not exist. A session notes
   * it when it starts authenticating: only later changes concern it.
   */
  accountChangeSequence(): number;
  /** The account changes logged after `sequence`, oldest first. */
  accountChangesAfter(sequence: number): AccountChange[];
}

/** The configured back end; the caller has checked `assertAuthAllowed` first. */
export function createAuthBackend(settings: Settings, accounts: AccountsStore): AuthBackend {
  const accountJid = (username: string) => localAccountJid(username, settings.domain);
  if (settings.auth.backend === 'insecure') {
    return {
      mechanisms: ['PLAIN'],
      accountJid,
      verifyPassword: async () => true,
      accountExists: () => true,
      scramCredential: () => Promise.reject(new Error('The insecure back end offers no SCRAM')),
      accountChangeSequence: () => 0,
      accountChangesAfter: () => [],
    };
  }
  const decoySecret = randomBytes(32);
  // An unknown account's password is checked against this, so that PLAIN takes as long for it as for a real one.
  let decoyCredential: Promise<ScramCredential> | undefined;
  return {
    mechanisms: ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'],
    accountJid,
    async verifyPassword(jid, password) {
      const credential = accounts.credential(jid, 'sha256');
      if (credential !== undefined) return passwordMatches('sha256', credential, password);
      decoyCredential ??= deriveCredential('sha256', randomBytes(32).toString('base64'));
      await passwordMatches('sha256', await decoyCredential, password);
      return false;
    },
    accountExists: (jid) => accounts.credential(jid, 'sha256') !== undefined,
    async scramCredential(jid, hash) {
      const credential = accounts.credential(jid, hash);
      if (credential) return credential;
      // A stable salt per unknown name, as a real account would have.
      const salt = createHmac('sha256', decoySecret).update(hash + '\0' + jid).digest().subarray(0, 16);
      const keyLength = hash === 'sha1' ? 20 : 32;
      return { salt, iterations: SCRAM_ITERATIONS, storedKey: randomBytes(keyLength), serverKey: randomBytes(keyLength) };
    },
    accountChangeSequence: () => accounts.changeSequence(),
    accountChangesAfter: (sequence) => accounts.changesAfter(sequence),
  };
}

/**
 * Guests (`auth.guest_domain`; undefined when it is not set): ANONYMOUS only,
 * and no accounts, so nothing an account has (a password, changes) applies.
 */
export function createGuestBackend(settings: Settings): AuthBackend | undefined {
  const guestDomain = settings.auth.guest_domain;
  if (guestDomain === null) return undefined;
  return {
    mechanisms: ['ANONYMOUS'],
    guestDomain,
    accountJid: () => undefined,
    verifyPassword: async () => false,
    accountExists: () => false,
    scramCredential: () => Promise.reject(new Error('Guests have no SCRAM credentials')),
    accountChangeSequence: () => 0,
    accountChangesAfter: () => [],
  };
}

/** The insecure back end would let anyone who can reach the port log in as anyone. */
export function assertAuthAllowed(settings: Settings): void {
  if (settings.auth.backend === 'insecure' && settings.client.enabled && !isLoopback(settings.client.host)) {
    throw new ConfigError(
      `Refusing to start: auth.backend "insecure" accepts any password, but client.host ` +
        `"${settings.client.host}" is not a loopback address (use 127.0.0.1 or ::1, or auth.backend "internal")`,
    );
  }
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

/** `user@domain` for a SASL username, normalized; undefined if it is no valid localpart. */
export function localAccountJid(username: string, domain: string): string | undefined {
  if (username === '' || /[@/]/.test(username)) return undefined;
  return prepJid(username + '@' + domain) ?? undefined;
}
