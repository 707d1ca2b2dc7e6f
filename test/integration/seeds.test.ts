// The user's seed scansion scripts (../shared/scansion/seeds/) against a real
// server. Four describe today's Prosody behaviour and must pass. The fifth,
// muc_register_2018.scs, is an older revision of muc_show_offline.scs: it
// must fail exactly at its first known divergence, where Prosody (and
// Conclave) tells the owner about a non-occupant's new affiliation before
// acknowledging the change.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runScripts, type ScriptResult } from '../../src/scansion/runner.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

// From dist/test/integration/ up to the folder that holds main/ and shared/.
const SEEDS = fileURLToPath(new URL('../../../../shared/scansion/seeds/', import.meta.url));

const PASSING = [
  'muc_affiliation_notify.scs',
  'muc_members_only_deregister.scs',
  'muc_presence_probe.scs',
  'muc_show_offline.scs',
];

describe('seed scansion scripts', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.close();
  });

  async function run(name: string): Promise<ScriptResult> {
    const { results } = await runScripts([SEEDS + name], { port: server.port });
    assert.equal(results.length, 1);
    return results[0];
  }

  for (const name of PASSING) {
    it(`${name} passes`, async () => {
      const result = await run(name);
      assert.equal(result.passed, true, JSON.stringify(result.failure, null, 2));
    });
  }

  it('muc_register_2018.scs stops at its first divergence: the affiliation message before the iq result', async () => {
    const result = await run('muc_register_2018.scs');
    assert.equal(result.passed, false);
    const failure = result.failure!;
    // Line 59 is "Romeo receives:" expecting the result of iq member1; the
    // newer script (muc_show_offline.scs) expects the message first.
    assert.equal(failure.line, 59, JSON.stringify(failure, null, 2));
    assert.match(failure.received ?? '', /^<message/);
    assert.match(failure.received ?? '', /affiliation='member'/);
    assert.match(failure.expected ?? '', /^<iq/);
  });
});
