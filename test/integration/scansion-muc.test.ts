// Conclave's own scansion scripts for the MUC features (test/scansion/muc/),
// each against a fresh server, including their error paths.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { findScripts, runScript } from '../../src/scansion/runner.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

// The scripts stay in the source tree: from dist/test/integration/ to test/scansion/muc/.
const SCRIPTS = fileURLToPath(new URL('../../../test/scansion/muc/', import.meta.url));

describe('MUC scansion scripts', async () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.close();
  });

  for (const file of await findScripts([SCRIPTS])) {
    it(file.slice(SCRIPTS.length), async () => {
      const result = await runScript(file, { port: server.port });
      assert.equal(result.passed, true, JSON.stringify(result.failure, null, 2));
    });
  }
});
