// Conclave's MUC scansion scripts (test/scansion/muc/) against a cluster of
// three nodes on one nats-server, the clients of each script spread over the
// nodes in turn (what `conclave scansion --spread` does): a room's occupants
// sit on several nodes while another node may own the room, and the service's
// disco#items and the admins' destroy command cover the rooms of every node.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { findScripts, runScript } from '../../src/scansion/runner.js';
import { membersBecome, startNode, type TestNode } from '../helpers/cluster.js';
import { MUC_SCRIPT_OPTIONS } from '../helpers/muc-scripts.js';
import { startNats, type TestNats } from '../helpers/nats.js';

const SCRIPTS = fileURLToPath(new URL('../../../test/scansion/muc/', import.meta.url));

/** Three nodes with the `muc` settings given, for the scripts of one describe. */
function cluster(muc: Record<string, unknown>): () => TestNode[] {
  let nats: TestNats;
  let nodes: TestNode[] = [];
  before(async () => {
    nats = await startNats();
    for (const node of ['n1', 'n2', 'n3']) nodes.push(await startNode(node, nats.url, { muc: { shards: 1, ...muc } }));
    await Promise.all(nodes.map((node) => membersBecome(node.cluster, ['n1', 'n2', 'n3'])));
  });
  after(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    nodes = [];
    await nats.stop();
  });
  return () => nodes;
}

function runsOn(nodes: () => TestNode[], file: string): void {
  it(file.slice(SCRIPTS.length), async () => {
    const spread = nodes().map((node) => ({ host: '127.0.0.1', port: node.port }));
    const result = await runScript(file, { spread });
    assert.equal(result.passed, true, JSON.stringify(result.failure, null, 2));
  });
}

describe('MUC scansion scripts spread over a cluster of three nodes', async () => {
  const nodes = cluster({});
  for (const file of await findScripts([SCRIPTS])) {
    if (!Object.hasOwn(MUC_SCRIPT_OPTIONS, file.slice(SCRIPTS.length))) runsOn(nodes, file);
  }
});

for (const [name, muc] of Object.entries(MUC_SCRIPT_OPTIONS)) {
  describe(`MUC scansion script ${name} with ${JSON.stringify(muc)} spread over a cluster of three nodes`, () => {
    runsOn(cluster(muc), SCRIPTS + name);
  });
}
