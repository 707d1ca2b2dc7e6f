// Conclave as the MUC component of a real ejabberd (Debian's 23.01) over two
// component connections: ejabberd spreads the rooms over them by bare
// destination JID, Conclave spreads the users by bare JID, and a room works
// across both.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { linkIndex } from '../../src/frontend/component.js';
import { MucTestClient, presenceAfterDroppedSession } from '../helpers/muc-client.js';
import { componentOverrides, linksAnswerPings, MUC_DOMAIN, PEER_LIVENESS, peerSkipReason, startEjabberd, type PeerServer } from '../helpers/peers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const LINKS = 2;

/** A user name whose traffic Conclave sends over `link` (it picks the link by the recipient's bare JID). */
function userOnLink(link: number): string {
  return ['user', 'user2', 'user3', 'user4'].find((name) => linkIndex(`${name}@localhost`, LINKS) === link)!;
}

describe('component mode under ejabberd, two links', { skip: peerSkipReason('ejabberd'), timeout: 120_000 }, () => {
  let ejabberd: PeerServer;
  let server: TestServer;

  before(async () => {
    ejabberd = await startEjabberd(LINKS);
    server = await startTestServer(componentOverrides(ejabberd, LINKS), { componentLiveness: PEER_LIVENESS });
    await server.component!.ready();
  });

  after(async () => {
    await server?.close();
    await ejabberd?.stop();
  });

  it("answers the links' liveness pings, so no link is dropped as dead", { timeout: 20_000 }, async () => {
    assert.equal(await linksAnswerPings(server), true);
  });

  it('authenticates both links', () => {
    assert.deepEqual(
      server.component!.stats().map(({ up, authentications }) => ({ up, authentications })),
      [
        { up: true, authentications: 1 },
        { up: true, authentications: 1 },
      ],
    );
  });

  it('joins, talks and leaves with users on different links, and the traffic uses both', async () => {
    const [romeoName, julietName] = [0, 1].map(userOnLink);
    const romeo = await MucTestClient.login(ejabberd.c2sPort, romeoName);
    const juliet = await MucTestClient.login(ejabberd.c2sPort, julietName);
    // ejabberd picks the link by the room's bare JID: these rooms land on both.
    const rooms = ['verona', 'mantua', 'padua', 'milan'].map((name) => `${name}@${MUC_DOMAIN}`);
    for (const room of rooms) {
      await romeo.createRoom(room, 'Romeo');
      await juliet.join(room, 'Juliet');
      await romeo.presenceFrom(`${room}/Juliet`);
      juliet.say(room, `hello from ${room}`);
      const heard = await romeo.messageFrom(`${room}/Juliet`);
      assert.equal(heard.getChildText('body'), `hello from ${room}`);
      assert.equal((await juliet.messageFrom(`${room}/Juliet`)).getChildText('body'), `hello from ${room}`);
      await juliet.leave(room, 'Juliet');
      assert.equal((await romeo.presenceFrom(`${room}/Juliet`)).attrs.type, 'unavailable');
    }
    for (const [link, stats] of server.component!.stats().entries()) {
      assert.ok(stats.sent > 0, `link ${link} sent nothing: ${JSON.stringify(stats)}`);
      assert.ok(stats.received > 0, `link ${link} received nothing: ${JSON.stringify(stats)}`);
    }
    await romeo.close();
    await juliet.close();
  });

  it("gets every link's write-order barriers back, though ejabberd routes them all over one link", async () => {
    const before = server.component!.stats();
    // A user on each link speaks in a room: its own echo waits behind a barrier on its link.
    for (const link of [0, 1]) {
      const user = await MucTestClient.login(ejabberd.c2sPort, userOnLink(link));
      const room = `barrier${link}@${MUC_DOMAIN}`;
      await user.createRoom(room, 'Speaker');
      user.say(room, 'in order');
      assert.equal((await user.messageFrom(`${room}/Speaker`)).getChildText('body'), 'in order');
      await user.close();
    }
    const barriers = server.component!.stats().map((link, index) => ({
      back: link.barriersBack - before[index].barriersBack,
      timedOut: link.barriersTimedOut - before[index].barriersTimedOut,
    }));
    // Not that none timed out: a loaded machine may keep ejabberd past the timeout now and then.
    for (const [link, { back }] of barriers.entries()) {
      assert.ok(back > 0, `link ${link}: no barrier came back in time: ${JSON.stringify(barriers)}`);
    }
  });

  it('a user whose session ends without leaving is removed from the room', async () => {
    const presence = await presenceAfterDroppedSession(ejabberd.c2sPort, `gone@${MUC_DOMAIN}`);
    assert.equal(presence.attrs.type, 'unavailable');
  });
});
