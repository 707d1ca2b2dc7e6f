// The account services' scansion scripts (test/scansion/accounts/): roster,
// carbons, blocking, offline messages and PEP, against Conclave standalone
// and, for a second opinion, against Prosody with its modules for the same
// (the scripts tagged `muc` need our MUC service in the same server).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runScripts, type RunOptions } from '../../src/scansion/runner.js';
import { peerSkipReason, startProsody, type PeerServer } from '../helpers/peers.js';
import { IO_THREADS_SKIP, startTestServer, type TestServer } from '../helpers/server.js';

// From dist/test/integration/ back to the sources' test/scansion/accounts/.
const SCRIPTS = fileURLToPath(new URL('../../../test/scansion/accounts/', import.meta.url));
const PROSODY_MODULES = ['roster', 'carbons', 'blocklist', 'pep', 'private'];

async function passes(options: RunOptions, atLeast: number): Promise<void> {
  const { passed, failed, results } = await runScripts([SCRIPTS], options);
  for (const { file, failure } of results) {
    if (failure) console.log(`${file}:${failure.line}: ${failure.message}\n${JSON.stringify(failure, null, 2)}`);
  }
  assert.equal(failed, 0, `${failed} of ${results.length} scripts failed`);
  assert.ok(passed >= atLeast);
}

describe('Conclave standalone', () => {
  let server: TestServer;
  before(async () => (server = await startTestServer()));
  after(() => server.close());

  test('every account scansion script passes', () => passes({ port: server.port, keepUnread: true }, 8));
});

// Sessions on three I/O threads: the rooms' deliveries reach them by another path, which blocking must see too, and their messages to rooms leave from each thread, which blocking and carbons must see too.
describe('Conclave standalone, clients on three I/O threads', { skip: IO_THREADS_SKIP }, () => {
  let server: TestServer;
  before(async () => (server = await startTestServer({ client: { io_threads: 3 } })));
  after(() => server.close());

  test('every account scansion script passes', () => passes({ port: server.port, keepUnread: true }, 8));
});

describe('Prosody with its account modules', { skip: peerSkipReason('prosody'), timeout: 120_000 }, () => {
  let prosody: PeerServer;
  before(async () => (prosody = await startProsody(PROSODY_MODULES)));
  after(() => prosody?.stop());

  test('every account scansion script without a room passes', () =>
    passes({ host: '127.0.0.1', port: prosody.c2sPort, keepUnread: true, skipTags: ['muc', 'caps-order'] }, 5));
});
