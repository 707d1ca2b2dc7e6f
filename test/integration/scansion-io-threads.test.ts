// Every scansion script (Conclave's c2s and MUC scripts, the user's seeds)
// against a server whose clients are spread over three I/O threads, so that a
// script's clients land on different threads and everything they say to each
// other crosses between threads. Needs Node >= 22.12 (SO_REUSEPORT).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findScripts, runScript } from '../../src/scansion/runner.js';
import { MUC_SCRIPT_OPTIONS } from '../helpers/muc-scripts.js';
import { assertRegister2018Divergence, PASSING_SEEDS, runSeed } from '../helpers/seeds.js';
import { IO_THREADS_SKIP, startTestServer, type TestServer } from '../helpers/server.js';

const SCRIPTS = fileURLToPath(new URL('../../../test/scansion/', import.meta.url));

/**
 * Scripts that pass only when two clients' copies of one broadcast are written
 * at the same instant: scansion drops what a client read beyond the stanza a
 * step expects, and these scripts count on a later broadcast being dropped
 * along with an earlier one. Threads write their clients' copies moments apart.
 * Not an ordering fault: in the failing runs each client still gets the room's
 * stanzas in the room's order (for Romeo: Juliet's registration, her leave, the
 * removal of her affiliation); only when his copy of the leave lands differs.
 */
const RACES_ACROSS_THREADS: Record<string, string> = {
  'muc_show_offline.scs':
    "Romeo's copy of Juliet's leave must already be read when he reads her registration (line 167), " +
    "to be dropped with it, but another thread than hers writes it, moments after Juliet's step has passed; " +
    'it is then the first stanza of his step at line 204, which expects a message',
};

describe('scansion scripts on three I/O threads', { skip: IO_THREADS_SKIP }, async () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ client: { io_threads: 3 }, muc: { shards: 2 } });
  });

  after(async () => {
    await server.close();
  });

  for (const file of await findScripts([SCRIPTS + 'c2s/', SCRIPTS + 'muc/'])) {
    const options = MUC_SCRIPT_OPTIONS[basename(file)];
    it(file.slice(SCRIPTS.length), async () => {
      // A script that needs a service option runs against a server of its own.
      const own = options && (await startTestServer({ client: { io_threads: 3 }, muc: options }));
      try {
        const result = await runScript(file, { port: (own ?? server).port });
        assert.equal(result.passed, true, JSON.stringify(result.failure, null, 2));
      } finally {
        await own?.close();
      }
    });
  }

  for (const name of PASSING_SEEDS) {
    it(`seed ${name}`, { skip: RACES_ACROSS_THREADS[name] }, async () => {
      const result = await runSeed(name, { port: server.port });
      assert.equal(result.passed, true, JSON.stringify(result.failure, null, 2));
    });
  }

  it('seed muc_register_2018.scs stops at its first divergence', async () => {
    assertRegister2018Divergence(await runSeed('muc_register_2018.scs', { port: server.port }));
  });
});
