// The component link's write-order barrier (see component-link.ts) over two
// links, when the server routes everything for our domain over one of them,
// as ejabberd does: each link's barrier still comes back to it, in time, and
// never reaches the rooms. Against the small XEP-0114 server in
// ../helpers/component-server.ts, which routes the barriers deterministically.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { linkIndex } from '../../src/frontend/component.js';
import { COMPONENT_TEST_SECRET, ComponentListener, MUC_DOMAIN } from '../helpers/component-server.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const LINKS = 2;

describe('component link barriers, over two links', { timeout: 60_000 }, () => {
  let listener: ComponentListener;
  let server: TestServer;

  before(async () => {
    listener = await ComponentListener.listen();
    const component = { enabled: true, port: listener.port, secret: COMPONENT_TEST_SECRET, connections: LINKS };
    server = await startTestServer({ client: { enabled: false }, component });
    await server.component!.ready();
  });

  after(async () => {
    await server?.close();
    await listener?.close();
  });

  it("credits a barrier that comes back over the other link to the link that wrote it, and routes it to no room", { timeout: 15_000 }, async () => {
    const [first, second] = listener.authenticatedConnections;
    listener.routesVia = second;
    // A remote user on each link joins a room: its own presence and the subject wait behind a barrier on its link.
    const users = [0, 1].map((link) =>
      ['juliet', 'romeo', 'nurse', 'tybalt'].map((name) => `${name}@remote.example/home`).find((jid) => linkIndex(jid, LINKS) === link)!,
    );
    for (const [index, user] of users.entries()) {
      first.send(`<presence from='${user}' to='room${index}@${MUC_DOMAIN}/User'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    }
    const done = () => server.component!.stats().every((link) => link.barriersBack + link.barriersTimedOut > 0);
    while (!done()) await sleep(10);
    const links = server.component!.stats().map(({ barriersBack, barriersTimedOut, received }) => ({ barriersBack, barriersTimedOut, received }));
    // The two joins are all the rooms received: no barrier among them.
    assert.equal(links.reduce((sum, link) => sum + link.received, 0), users.length, JSON.stringify(links));
    for (const [index, link] of links.entries()) {
      assert.equal(link.barriersTimedOut, 0, `link ${index}: ${JSON.stringify(links)}`);
      assert.ok(link.barriersBack > 0, `link ${index}: ${JSON.stringify(links)}`);
    }
  });
});
