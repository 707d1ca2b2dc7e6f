// Accounts of the `internal` auth back end in a JetStream KV bucket, one entry
// per account (key: the bare JID as a token), holding the same salted SCRAM
// credentials as LMDB does.
//
// The front end reads credentials at every login and whether an account
// exists at every roster or offline-message decision, synchronously; so each
// node keeps a replica of the bucket, fed by a KV watcher, and reads from it.
// The watcher also makes the change log: a new value for an account it knew
// is a password change, a deletion a deletion, each numbered in the order
// this node saw it, so that its sessions of that account end, whichever node
// (or `conclave` command) made the change.

import type { KV, KvEntry } from 'nats';
import type { ScramCredential, ScramHash } from '../../xmpp/scram.js';
import type { Logger } from '../../log.js';
import { CHANGE_RETENTION_MS, credentialOf, storedAccount, type AccountChange, type StoredAccount } from '../accounts.js';
import type { AccountsStore } from '../interface.js';
import { fromToken, isWrongRevision, toToken } from './names.js';

interface Known {
  account: StoredAccount;
  revision: number;
}

type LoggedChange = AccountChange & { at: number };

export class JetStreamAccountStore implements AccountsStore {
  private readonly accounts = new Map<string, Known>();
  private readonly changes: LoggedChange[] = [];
  private sequence = 0;
  /** The highest revision the replica has applied, and who waits for a higher one. */
  private applied = 0;
  private readonly waiting: { revision: number; resolve(): void }[] = [];

  private constructor(
    private readonly kv: KV,
    private readonly log: Logger,
  ) {}

  /** The store, once its replica holds every account the bucket had. */
  static async open(kv: KV, log: Logger): Promise<JetStreamAccountStore> {
    const store = new JetStreamAccountStore(kv, log);
    await store.follow();
    return store;
  }

  isEmpty(): boolean {
    return this.accounts.size === 0;
  }

  credential(bareJid: string, hash: ScramHash): ScramCredential | undefined {
    return credentialOf(this.accounts.get(bareJid)?.account, hash);
  }

  async create(bareJid: string, password: string): Promise<boolean> {
    const account = await storedAccount(password);
    try {
      await this.seen(await this.kv.create(toToken(bareJid), encode(account)));
      return true;
    } catch (err) {
      if (isWrongRevision(err) || /exists/i.test((err as Error).message)) return false;
      throw err;
    }
  }

  async setPassword(bareJid: string, password: string): Promise<boolean> {
    const account = await storedAccount(password);
    return this.ifExists(bareJid, (revision) => this.kv.update(toToken(bareJid), encode(account), revision));
  }

  delete(bareJid: string): Promise<boolean> {
    return this.ifExists(bareJid, async (revision) => {
      await this.kv.delete(toToken(bareJid), { previousSeq: revision });
      // The deletion's own revision is the one after the entry's latest: wait for the replica to have it.
      return (await this.kv.status()).streamInfo.state.last_seq;
    });
  }

  changeSequence(): number {
    return this.sequence;
  }

  changesAfter(sequence: number): AccountChange[] {
    return this.changes.filter((change) => change.sequence > sequence).map(({ sequence, bareJid, kind }) => ({ sequence, bareJid, kind }));
  }

  /** Resolves once the replica has applied everything the bucket held when called. */
  async caughtUp(): Promise<void> {
    await this.seen((await this.kv.status()).streamInfo.state.last_seq);
  }

  /** Makes a change conditional on the account's latest revision, again if another writer came first; false without an account. */
  private async ifExists(bareJid: string, change: (revision: number) => Promise<number>): Promise<boolean> {
    for (;;) {
      const entry = await this.kv.get(toToken(bareJid));
      if (entry === null || entry.operation !== 'PUT') return false;
      try {
        await this.seen(await change(entry.revision));
        return true;
      } catch (err) {
        if (!isWrongRevision(err)) throw err;
      }
    }
  }

  /** Watches the bucket from its first entry on; resolves once the entries it held are applied. */
  private async follow(): Promise<void> {
    let live = false;
    let initialized!: () => void;
    const ready = new Promise<void>((resolve) => (initialized = resolve));
    const watcher = await this.kv.watch({
      initializedFn: () => {
        live = true;
        initialized();
      },
    });
    void (async () => {
      for await (const entry of watcher) this.apply(entry, live);
    })().catch((err: unknown) => this.log.error({ err }, 'the accounts replica stopped following NATS'));
    await ready;
  }

  /** Applies an entry to the replica; a live one that replaces or removes a known account is logged as a change. */
  private apply(entry: KvEntry, live: boolean): void {
    const bareJid = fromToken(entry.key);
    const known = this.accounts.has(bareJid);
    if (entry.operation === 'PUT') {
      this.accounts.set(bareJid, { account: entry.json<StoredAccount>(), revision: entry.revision });
      if (live && known) this.logChange(bareJid, 'password-changed');
    } else {
      this.accounts.delete(bareJid);
      if (live && known) this.logChange(bareJid, 'deleted');
    }
    this.applied = Math.max(this.applied, entry.revision);
    for (const waiter of this.waiting.filter((waiter) => waiter.revision <= this.applied)) {
      this.waiting.splice(this.waiting.indexOf(waiter), 1);
      waiter.resolve();
    }
  }

  private logChange(bareJid: string, kind: AccountChange['kind']): void {
    const at = Date.now();
    this.changes.push({ sequence: ++this.sequence, bareJid, kind, at });
    while (this.changes.length > 0 && this.changes[0].at <= at - CHANGE_RETENTION_MS) this.changes.shift();
  }

  /** Resolves once the replica has applied revision `revision` of the bucket. */
  private seen(revision: number): Promise<void> {
    if (revision <= this.applied) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ revision, resolve }));
  }
}

function encode(account: StoredAccount): Uint8Array {
  return Buffer.from(JSON.stringify(account));
}
