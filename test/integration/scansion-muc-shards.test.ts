// The service-wide MUC scripts against three shards: the service's
// disco#items and the admins' destroy command must cover rooms on every
// shard, which a one-shard server would not show.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runScript } from '../../src/scansion/runner.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const SCRIPTS = fileURLToPath(new URL('../../../test/scansion/muc/', import.meta.url));
const SERVICE_WIDE = ['disco_service.scs', 'lifecycle_admin_destroy.scs'];

describe('MUC service-wide scripts on three shards', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ muc: { shards: 3 } });
  });

  after(async () => {
    await server.close();
  });

  for (const name of SERVICE_WIDE) {
    it(name, async () => {
      const result = await runScript(SCRIPTS + name, { port: server.port });
      assert.equal(result.passed, true, JSON.stringify(result.failure, null, 2));
    });
  }
});
