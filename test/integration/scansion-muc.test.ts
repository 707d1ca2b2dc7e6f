// Conclave's own scansion scripts for the MUC features (test/scansion/muc/),
// each against a fresh server, including their error paths. A script for a
// service option off by default runs against a server of its own with it on.
// The scripts run once more on a cluster node, its rooms' state in JetStream
// (a real nats-server): the same behaviour, whatever the store.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { findScripts, runScript } from '../../src/scansion/runner.js';
import { MUC_SCRIPT_OPTIONS } from '../helpers/muc-scripts.js';
import { startNats, type TestNats } from '../helpers/nats.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

// The scripts stay in the source tree: from dist/test/integration/ to test/scansion/muc/.
const SCRIPTS = fileURLToPath(new URL('../../../test/scansion/muc/', import.meta.url));


function runsOn(server: () => TestServer, file: string): void {
  it(file.slice(SCRIPTS.length), async () => {
    const result = await runScript(file, { port: server().port });
    assert.equal(result.passed, true, JSON.stringify(result.failure, null, 2));
  });
}

for (const cluster of [false, true]) {
  describe(`MUC scansion scripts${cluster ? ', rooms in JetStream' : ''}`, async () => {
    let server: TestServer;
    let nats: TestNats | undefined;

    before(async () => {
      nats = cluster ? await startNats() : undefined;
      server = await startTestServer(nats === undefined ? {} : { cluster: { node: 'n1', nats: { servers: [nats.url] } } });
    });

    after(async () => {
      await server.close();
      await nats?.stop();
    });

    for (const file of await findScripts([SCRIPTS])) {
      if (!Object.hasOwn(MUC_SCRIPT_OPTIONS, file.slice(SCRIPTS.length))) runsOn(() => server, file);
    }
  });
}

for (const [name, muc] of Object.entries(MUC_SCRIPT_OPTIONS)) {
  describe(`MUC scansion script ${name} with ${JSON.stringify(muc)}`, () => {
    let server: TestServer;

    before(async () => {
      server = await startTestServer({ muc });
    });

    after(async () => {
      await server.close();
    });

    runsOn(() => server, SCRIPTS + name);
  });
}
