// `conclave deluser` while the server runs: the account's live sessions end
// with a `not-authorized` stream error and leave their rooms, as for any
// disconnect, while a login to an account re-created after the deletion
// stays; `conclave passwd` ends the sessions from before the change with
// `reset`. The command line always runs as a separate process, as an
// administrator runs it beside the server.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import type { Element } from '../../src/xml/element.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { accountCommand, RawClient, rawClient, spawnServer, startTestServer, type SpawnedServer, type TestServer } from '../helpers/server.js';

const ROOM = 'balcony@conference.localhost';
/** A session that is never ended would otherwise keep its test waiting for the stream error forever. */
const TEST_TIMEOUT_MS = 20_000;

/** Writes a configuration for the command line (and a spawned server) that uses `dataDir`. */
async function configFile(dataDir: string): Promise<string> {
  const file = join(dataDir, 'conclave.yaml');
  await writeFile(file, `data_dir: ${JSON.stringify(dataDir)}\nlog_level: warn\nclient:\n  port: 0\nmuc:\n  shards: 1\n`);
  return file;
}

/** The stream error the client got: condition and text. */
async function streamErrorOf(client: RawClient): Promise<{ condition: string | undefined; text: string | undefined }> {
  const error: Element = await client.next((stanza) => stanza.name === 'stream:error');
  return { condition: error.elements().find((child) => child.name !== 'text')?.name, text: error.getChildText('text') };
}

describe('deluser on a running server (separate processes)', () => {
  let dataDir: string;
  let config: string;
  let server: SpawnedServer;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'conclave-deluser-'));
    config = await configFile(dataDir);
    await accountCommand(config, 'adduser', 'romeo@localhost', 'password');
    await accountCommand(config, 'adduser', 'juliet@localhost', 'password');
    server = await spawnServer(['--config', config]);
  });
  after(async () => {
    await server?.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  });

  // No timed assertion (the machine running tests is busy): the test's timeout bounds the wait.
  test("ends the account's sessions with not-authorized; its rooms see it leave", { timeout: TEST_TIMEOUT_MS }, async () => {
    const romeo = await MucTestClient.login(server.port, 'romeo');
    const juliet = await MucTestClient.login(server.port, 'juliet');
    await romeo.createRoom(ROOM, 'Romeo');
    await juliet.join(ROOM, 'Juliet');
    await romeo.presenceFrom(`${ROOM}/Juliet`);

    await accountCommand(config, 'deluser', 'romeo@localhost');
    assert.deepEqual(await streamErrorOf(romeo.client), { condition: 'not-authorized', text: 'Account deleted' });
    await romeo.client.closed;
    assert.equal(romeo.client.streamEnded, true);

    const left = await juliet.client.next(
      (stanza) => stanza.name === 'presence' && stanza.attrs.from === `${ROOM}/Romeo` && stanza.attrs.type === 'unavailable',
    );
    assert.equal(left.getChildText('status'), 'Disconnected: Account deleted');
    assert.equal((await juliet.client.ping()).attrs.type, 'result');
    await juliet.client.close();
  });
});

// In one process, with the server's timer under the test's control, so that
// the order that matters is certain: logins first, the server's check after.
describe('deluser, passwd and logins the check has not seen yet', () => {
  let server: TestServer;
  let config: string;
  before(async () => {
    mock.timers.enable({ apis: ['setInterval'] });
    server = await startTestServer({ auth: { backend: 'internal' } });
    config = await configFile(server.dataDir);
  });
  after(async () => {
    await server?.close();
    mock.timers.reset();
  });

  /** Lets the server's account check run (the test controls its timer). */
  const checkAccounts = () => mock.timers.tick(1000);

  test('a session of the account re-created after the deletion stays; one from before ends', { timeout: TEST_TIMEOUT_MS }, async () => {
    await accountCommand(config, 'adduser', 'romeo@localhost', 'first');
    const deleted = await rawClient(server.port, 'romeo', 'deleted', 'first');
    await accountCommand(config, 'deluser', 'romeo@localhost');
    await accountCommand(config, 'adduser', 'romeo@localhost', 'second');
    const recreated = await rawClient(server.port, 'romeo', 'recreated', 'second');

    checkAccounts();
    assert.deepEqual(await streamErrorOf(deleted), { condition: 'not-authorized', text: 'Account deleted' });
    assert.equal((await recreated.ping()).attrs.type, 'result');
    checkAccounts();
    assert.equal((await recreated.ping()).attrs.type, 'result');
    await recreated.close();
  });

  test('a login authenticated before the deletion and bound after the check is ended at bind', { timeout: TEST_TIMEOUT_MS }, async () => {
    await accountCommand(config, 'adduser', 'mercutio@localhost', 'password');
    const client = await RawClient.connect(server.port);
    await client.openStream();
    assert.equal((await client.authenticatePlain('mercutio', 'password')).name, 'success');
    await accountCommand(config, 'deluser', 'mercutio@localhost');
    checkAccounts();

    const binding = client.bindAfterAuth('late').then(
      () => 'bound',
      () => 'refused',
    );
    assert.deepEqual(await streamErrorOf(client), { condition: 'not-authorized', text: 'Account deleted' });
    assert.equal(await binding, 'refused');
  });

  test('a password change ends the sessions from before it with reset; a login with the new password stays', { timeout: TEST_TIMEOUT_MS }, async () => {
    await accountCommand(config, 'adduser', 'tybalt@localhost', 'first');
    const earlier = await rawClient(server.port, 'tybalt', 'earlier', 'first');
    await accountCommand(config, 'passwd', 'tybalt@localhost', 'second');
    const later = await rawClient(server.port, 'tybalt', 'later', 'second');

    checkAccounts();
    assert.deepEqual(await streamErrorOf(earlier), { condition: 'reset', text: 'Password changed' });
    assert.equal((await later.ping()).attrs.type, 'result');
    await later.close();
  });
});
