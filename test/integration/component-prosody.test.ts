// Conclave as the MUC component of a real Prosody (Debian's 0.12): the seed
// scansion scripts through Prosody's client port, a session that ends without
// leaving, and a Prosody restart that the link survives with the rooms'
// persistent state.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ScriptResult } from '../../src/scansion/runner.js';
import { assertRegister2018Divergence, PASSING_SEEDS, runSeed } from '../helpers/seeds.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { componentOverrides, linksAnswerPings, MUC_DOMAIN, PEER_LIVENESS, peerSkipReason, startProsody, type PeerServer } from '../helpers/peers.js';
import { MucTestClient, presenceAfterDroppedSession } from '../helpers/muc-client.js';

describe('component mode under Prosody', { skip: peerSkipReason('prosody'), timeout: 180_000 }, () => {
  let prosody: PeerServer;
  let server: TestServer;

  before(async () => {
    prosody = await startProsody();
    server = await startTestServer(componentOverrides(prosody, 1), { componentLiveness: PEER_LIVENESS });
    await server.component!.ready();
  });

  after(async () => {
    await server?.close();
    await prosody?.stop();
  });

  function run(name: string): Promise<ScriptResult> {
    return runSeed(name, { host: '127.0.0.1', port: prosody.c2sPort });
  }

  it("answers the links' liveness pings, so no link is dropped as dead", { timeout: 20_000 }, async () => {
    assert.equal(await linksAnswerPings(server), true);
  });

  for (const name of PASSING_SEEDS) {
    it(`${name} passes through Prosody`, async () => {
      const result = await run(name);
      assert.equal(result.passed, true, JSON.stringify(result.failure, null, 2));
    });
  }

  it('muc_register_2018.scs stops at its first divergence, as in standalone mode', async () => {
    assertRegister2018Divergence(await run('muc_register_2018.scs'));
  });

  it('a user whose session ends without leaving is removed from the room (unavailable presence from Prosody)', async () => {
    const presence = await presenceAfterDroppedSession(prosody.c2sPort, `gone@${MUC_DOMAIN}`);
    assert.equal(presence.attrs.type, 'unavailable');
  });

  it('reconnects after Prosody restarts; the persistent room keeps its affiliations and registrations', async () => {
    const room = `kept@${MUC_DOMAIN}`;
    const romeo = await MucTestClient.login(prosody.c2sPort, 'user');
    const juliet = await MucTestClient.login(prosody.c2sPort, 'user2');
    await romeo.createRoom(room, 'Romeo', { 'muc#roomconfig_persistentroom': '1' });
    await romeo.setAffiliation(room, 'user2@localhost', 'member');
    await juliet.registerNick(room, 'Juliet');

    const reconnected = server.component!.reconnected();
    await prosody.restart();
    await reconnected;
    assert.deepEqual(
      server.component!.stats().map(({ up, authentications }) => ({ up, authentications })),
      [{ up: true, authentications: 2 }],
    );

    const owner = await MucTestClient.login(prosody.c2sPort, 'user');
    const member = await MucTestClient.login(prosody.c2sPort, 'user2');
    assert.ok((await owner.roomFeatures(room)).includes('muc_persistent'));
    const members = await owner.affiliationList(room, 'member');
    assert.deepEqual(
      members.map((item) => [item.attrs.jid, item.attrs.nick]),
      [['user2@localhost', 'Juliet']],
    );
    assert.equal(await member.reservedNick(room), 'Juliet');
    await owner.close();
    await member.close();
  });
});
