// `conclave deluser` removes the account from the rooms: its affiliations and
// reserved nicknames go, so whoever registers the name later inherits neither
// membership nor ownership. With the server running (its live rooms forget the
// account) and with the server stopped (the command purges the stored rooms
// itself). The command line runs as a separate process, as an administrator
// runs it beside the server.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MucTestClient } from '../helpers/muc-client.js';
import { accountCommand, spawnServer, type SpawnedServer } from '../helpers/server.js';

const ROOM = 'crypt@conference.localhost';
const TEST_TIMEOUT_MS = 20_000;
const MUC_USER = 'http://jabber.org/protocol/muc#user';

/** A configuration on `dataDir` with a service admin, who may look at any room; two shards, so the purge must reach them all. */
async function configFile(dataDir: string): Promise<string> {
  const file = join(dataDir, 'conclave.yaml');
  const yaml = `data_dir: ${JSON.stringify(dataDir)}\nlog_level: warn\nclient:\n  port: 0\nmuc:\n  shards: 2\n  admins: [friar@localhost]\n`;
  await writeFile(file, yaml);
  return file;
}

/** Romeo owns a persistent members-only room, with the nickname Romeo reserved, and Juliet is a member. */
async function setUpRoom(port: number): Promise<MucTestClient> {
  const romeo = await MucTestClient.login(port, 'romeo');
  await romeo.createRoom(ROOM, 'Romeo', { 'muc#roomconfig_persistentroom': '1', 'muc#roomconfig_membersonly': '1' });
  await romeo.setAffiliation(ROOM, 'juliet@localhost', 'member');
  await romeo.registerNick(ROOM, 'Romeo');
  return romeo;
}

/** How a join ends: 'joined', or the error condition. */
async function joinOutcome(client: MucTestClient, nick: string): Promise<string> {
  return client.join(ROOM, nick).then(
    () => 'joined',
    (err: Error) => /<error[^>]*>\s*<([a-z-]+)/.exec(err.message)?.[1] ?? err.message,
  );
}

async function ownerJids(friar: MucTestClient): Promise<string[]> {
  return (await friar.affiliationList(ROOM, 'owner')).map((item) => item.attrs.jid as string);
}

describe('deluser with the server running: the live and stored rooms forget the account', () => {
  let dataDir: string;
  let config: string;
  let server: SpawnedServer;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'conclave-deluser-rooms-'));
    config = await configFile(dataDir);
    for (const user of ['romeo', 'juliet', 'friar']) await accountCommand(config, 'adduser', `${user}@localhost`, 'password');
    server = await spawnServer(['--config', config]);
  });
  after(async () => {
    await server?.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  });

  test('a re-created juliet is no member; a re-created romeo owns nothing and the nickname is free', { timeout: TEST_TIMEOUT_MS }, async () => {
    const romeo = await setUpRoom(server.port);

    await accountCommand(config, 'deluser', 'juliet@localhost');
    // The room, which romeo keeps live, tells its moderators (example 195): juliet is no longer a member.
    await romeo.client.next((stanza) => {
      const item = stanza.name === 'message' ? stanza.getChild('x', MUC_USER)?.getChild('item') : undefined;
      return item?.attrs.jid === 'juliet@localhost' && item.attrs.affiliation === 'none';
    });
    await accountCommand(config, 'adduser', 'juliet@localhost', 'password');
    const juliet = await MucTestClient.login(server.port, 'juliet');
    assert.equal(await joinOutcome(juliet, 'Juliet'), 'registration-required');

    await accountCommand(config, 'deluser', 'romeo@localhost');
    await romeo.client.closed;
    const friar = await MucTestClient.login(server.port, 'friar');
    // The room stays, ownerless, as in Prosody; service admins still own it.
    await waitUntil(async () => (await ownerJids(friar)).length === 0);
    assert.equal(await joinOutcome(friar, 'Romeo'), 'joined');

    await accountCommand(config, 'adduser', 'romeo@localhost', 'password');
    const newRomeo = await MucTestClient.login(server.port, 'romeo');
    assert.equal(await newRomeo.reservedNick(ROOM), undefined);
    assert.equal(await joinOutcome(newRomeo, 'Romeo'), 'registration-required');
    await Promise.all([juliet.close(), friar.close(), newRomeo.close()]);

    // What storage holds after a restart.
    await server.stop('SIGTERM');
    server = await spawnServer(['--config', config]);
    const friarAgain = await MucTestClient.login(server.port, 'friar');
    assert.deepEqual(await ownerJids(friarAgain), []);
    assert.deepEqual(await friarAgain.affiliationList(ROOM, 'member'), []);
    await friarAgain.close();
  });
});

describe('deluser with the server stopped: the stored rooms forget the account', () => {
  let dataDir: string;
  let config: string;
  let server: SpawnedServer | undefined;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'conclave-deluser-rooms-'));
    config = await configFile(dataDir);
    for (const user of ['romeo', 'juliet', 'friar']) await accountCommand(config, 'adduser', `${user}@localhost`, 'password');
  });
  after(async () => {
    await server?.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  });

  test('after a restart juliet is no member, romeo owns nothing and the nickname is free', { timeout: TEST_TIMEOUT_MS }, async () => {
    server = await spawnServer(['--config', config]);
    const romeo = await setUpRoom(server.port);
    await romeo.close();
    await server.stop('SIGTERM');

    await accountCommand(config, 'deluser', 'juliet@localhost');
    await accountCommand(config, 'deluser', 'romeo@localhost');
    await accountCommand(config, 'adduser', 'juliet@localhost', 'password');
    server = await spawnServer(['--config', config]);

    const juliet = await MucTestClient.login(server.port, 'juliet');
    assert.equal(await joinOutcome(juliet, 'Juliet'), 'registration-required');
    const friar = await MucTestClient.login(server.port, 'friar');
    assert.deepEqual(await ownerJids(friar), []);
    assert.deepEqual(await friar.affiliationList(ROOM, 'member'), []);
    assert.equal(await joinOutcome(friar, 'Romeo'), 'joined');
    await Promise.all([juliet.close(), friar.close()]);
  });
});

/** Polls until `check` holds; the test's timeout bounds the wait (the server acts within about half a second). */
async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 100));
}
