// The client-to-server scansion scripts (test/scansion/c2s/) against a real
// server: message routing, presence, ping, iq errors, unknown recipients.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runScripts } from '../../src/scansion/runner.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

// From dist/test/integration/ back to the sources' test/scansion/c2s/.
const SCRIPTS = fileURLToPath(new URL('../../../test/scansion/c2s/', import.meta.url));

let server: TestServer;
before(async () => (server = await startTestServer()));
after(() => server.close());

// Scansion's own reading (the rest of a read is dropped) and the stricter one
// that keeps every unread stanza queued.
for (const keepUnread of [false, true]) {
  test(`every c2s scansion script passes${keepUnread ? ' with keepUnread' : ''}`, async () => {
    const { passed, failed, results } = await runScripts([SCRIPTS], { port: server.port, keepUnread });
    for (const { file, failure } of results) {
      if (failure) console.log(`${file}:${failure.line}: ${failure.message}\n${JSON.stringify(failure, null, 2)}`);
    }
    assert.equal(failed, 0, `${failed} of ${results.length} scripts failed`);
    assert.ok(passed >= 5);
  });
}
