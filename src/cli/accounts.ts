// `conclave adduser JID [PASSWORD]`, `deluser JID`, `passwd JID [PASSWORD]`,
// each with --config FILE / --profile NAME. A missing password is prompted for
// without echo on a terminal, or read as one line from standard input.

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { forgetAccountData } from '../account/stored-data.js';
import { loadConfig, type Settings } from '../config/load.js';
import { bareJid, jidDomain, prepJid } from '../jid/jid.js';
import { AccountStore, PasswordRefused } from '../store/accounts.js';
import { openDatabase, type Database } from '../store/database.js';
import type { AccountsStore } from '../store/interface.js';
import { openAccounts } from '../store/open.js';
import { DEFAULT_ARCHIVE_LIMITS } from '../store/archive.js';
import { openJetStreamStores } from '../store/jetstream/connect.js';
import { createLogger } from '../log.js';
import { RoomStore } from '../store/rooms.js';

const USAGE: Record<string, string> = {
  adduser: 'conclave adduser JID [PASSWORD] [--config FILE] [--profile NAME]',
  deluser: 'conclave deluser JID [--config FILE] [--profile NAME]',
  passwd: 'conclave passwd JID [PASSWORD] [--config FILE] [--profile NAME]',
};

export async function main(args: string[], command: string): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { config: { type: 'string' }, profile: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    console.error(`conclave ${command}: ${(err as Error).message}\nusage: ${USAGE[command]}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(`usage: ${USAGE[command]}\n\nA missing PASSWORD is prompted for without echo, or read as one line from standard input.`);
    return 0;
  }
  const [jidArg, passwordArg, ...extra] = parsed.positionals;
  if (jidArg === undefined || extra.length > 0 || (command === 'deluser' && passwordArg !== undefined)) {
    console.error(`usage: ${USAGE[command]}`);
    return 2;
  }
  const settings = loadConfig({ file: parsed.values.config, profile: parsed.values.profile });
  const jid = prepJid(jidArg);
  if (jid === null || bareJid(jid) !== jid || !jid.includes('@')) {
    console.error(`conclave ${command}: "${jidArg}" is not a valid bare JID (user@domain)`);
    return 2;
  }
  if (jidDomain(jid) !== settings.domain) {
    console.error(`conclave ${command}: ${jid} is not on this server's domain ${settings.domain}`);
    return 2;
  }

  const password = command === 'deluser' ? '' : (passwordArg ?? (await readPassword(`Password for ${jid}: `)));
  if (command !== 'deluser' && password === '') {
    console.error(`conclave ${command}: the password must not be empty`);
    return 2;
  }
  const database = openDatabase(settings.data_dir, settings.storage.durability);
  const opened = await openAccounts(settings, database, createLogger('warn')).catch(async (err: unknown) => {
    await database.close();
    throw err;
  });
  try {
    const { accounts } = opened;
    let done;
    try {
      done =
        command === 'adduser'
          ? await accounts.create(jid, password)
          : command === 'passwd'
            ? await accounts.setPassword(jid, password)
            : await deleteAccount(settings.cluster, database, accounts, jid);
    } catch (err) {
      if (!(err instanceof PasswordRefused)) throw err;
      console.error(`conclave ${command}: ${err.message}`);
      return 2;
    }
    if (!done) {
      console.error(command === 'adduser' ? `${jid} already exists` : `${jid} does not exist`);
      return 1;
    }
    const confirmation: Record<string, string> = {
      adduser: `Account ${jid} created`,
      passwd: `Password changed for ${jid}`,
      deluser: `Account ${jid} deleted`,
    };
    console.log(confirmation[command]);
    return 0;
  } finally {
    await opened.close();
    await database.close();
  }
}

/**
 * Deletes the account, and on a single node in the same transaction its
 * affiliations and reserved nicknames in the stored rooms and what the account
 * services keep for it (vCard, private storage, block list, offline messages):
 * whoever registers the name later inherits none of them, and nothing is lost
 * if the server is not running (a running one has its live rooms forget the
 * account too, from the log).
 */
async function deleteAccount(cluster: Settings['cluster'], database: Database, accounts: AccountsStore, jid: string): Promise<boolean> {
  if (cluster === null) {
    const rooms = new RoomStore(database);
    return (accounts as AccountStore).delete(jid, () => {
      rooms.forgetUser(jid);
      forgetAccountData(database, jid);
    });
  }
  // In a cluster no transaction spans the accounts, the rooms (both in JetStream) and this
  // node's LMDB: the account goes first (its sessions end on every node), then its
  // affiliations in the stored rooms, then what this node keeps for it.
  if (!(await accounts.delete(jid))) return false;
  const stores = await openJetStreamStores(cluster, DEFAULT_ARCHIVE_LIMITS, createLogger('warn'));
  try {
    await stores.rooms.forgetUser(jid);
  } finally {
    await stores.close();
  }
  forgetAccountData(database, jid);
  return true;
}

/** One line from the terminal without echo, or from standard input when it is not a terminal. */
async function readPassword(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    const lines = createInterface({ input, terminal: false });
    for await (const line of lines) {
      lines.close();
      return line;
    }
    return '';
  }
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  let password = '';
  try {
    for await (const chunk of input) {
      for (const char of (chunk as Buffer).toString('utf8')) {
        if (char === '\r' || char === '\n') return password;
        if (char === '\u0003') throw new Error('Interrupted');
        if (char === '\u007f' || char === '\b') password = password.slice(0, -1);
        else password += char;
      }
    }
    return password;
  } finally {
    input.setRawMode(false);
    input.pause();
    process.stderr.write('\n');
  }
}
