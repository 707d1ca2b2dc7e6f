// The user's seed scansion scripts (test/fixtures/seeds/) against a real
// server. Four describe today's Prosody behaviour and must pass. The fifth,
// muc_register_2018.scs, is an older revision of muc_show_offline.scs: it
// must fail exactly at its first known divergence (see helpers/seeds.ts).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertRegister2018Divergence, PASSING_SEEDS, runSeed } from '../helpers/seeds.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('seed scansion scripts', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.close();
  });

  for (const name of PASSING_SEEDS) {
    it(`${name} passes`, async () => {
      const result = await runSeed(name, { port: server.port });
      assert.equal(result.passed, true, JSON.stringify(result.failure, null, 2));
    });
  }

  it('muc_register_2018.scs stops at its first divergence: the affiliation message before the iq result', async () => {
    assertRegister2018Divergence(await runSeed('muc_register_2018.scs', { port: server.port }));
  });
});
