// A guest in a real browser: Debian's chromium loads a page served here that
// connects with @xmpp/client's browser bundle over WebSocket, logs in with
// SASL ANONYMOUS, joins a room and talks with a TCP client.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { launchChromium, type TestBrowser } from '../helpers/browser.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ROOM = 'terrace@conference.localhost';
const PAGE = `<!doctype html><html><head><meta charset='utf-8'><title>Conclave guest</title>
<script src='/xmpp.min.js'></script>
<script>
  // What the room said to us, for the test to read.
  window.heard = [];
  async function enter(service, room, nick) {
    const { client, xml } = window.XMPP;
    const xmpp = client({ service, domain: 'guest.localhost', resource: 'browser' });
    xmpp.on('stanza', (stanza) => {
      const body = stanza.getChildText('body');
      if (stanza.name === 'message' && body !== null) window.heard.push({ from: stanza.attrs.from, body });
    });
    await xmpp.start();
    await xmpp.send(xml('presence', { to: room + '/' + nick }, xml('x', { xmlns: 'http://jabber.org/protocol/muc' })));
    window.say = (text) => xmpp.send(xml('message', { to: room, type: 'groupchat' }, xml('body', {}, text)));
    return xmpp.jid.toString();
  }
</script></head><body></body></html>`;

let server: TestServer;
let pages: Server;
let browser: TestBrowser;
let romeo: MucTestClient;

before(async () => {
  server = await startTestServer({ auth: { guest_domain: 'guest.localhost' }, websocket: { enabled: true, port: 0 } });
  const bundle = await readFile(join(dirname(createRequire(import.meta.url).resolve('@xmpp/client')), 'dist', 'xmpp.min.js'));
  pages = createServer((request, response) => {
    if (request.url === '/xmpp.min.js') response.setHeader('Content-Type', 'text/javascript').end(bundle);
    else response.setHeader('Content-Type', 'text/html').end(PAGE);
  });
  pages.listen(0, '127.0.0.1');
  await once(pages, 'listening');
  browser = await launchChromium();
  romeo = await MucTestClient.login(server.port, 'romeo');
  await romeo.createRoom(ROOM, 'Romeo');
});

after(async () => {
  await browser?.close();
  await romeo?.close();
  pages?.close();
  await server?.close();
});

test('a browser guest joins a room over WebSocket and exchanges messages with a TCP client', async () => {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  const address = pages.address();
  await page.goto(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`);

  const service = `ws://127.0.0.1:${server.websocketPort}/xmpp-websocket`;
  const jid = await page.evaluate(([service, room]) => (window as any).enter(service, room, 'Visitor'), [service, ROOM]);
  assert.match(jid, /^[0-9a-f-]{36}@guest\.localhost\/browser$/);

  // Romeo sees the guest come in, then hears it.
  const joined = await romeo.presenceFrom(`${ROOM}/Visitor`);
  assert.equal(joined.attrs.type, undefined);
  const heard = romeo.messageFrom(`${ROOM}/Visitor`);
  await page.evaluate(() => (window as any).say('Hello from a browser'));
  assert.equal((await heard).getChildText('body'), 'Hello from a browser');

  // The guest hears Romeo (and its own message, as every occupant does).
  romeo.say(ROOM, 'Welcome, visitor');
  await page.waitForFunction(() => (window as any).heard.some((m: { body: string }) => m.body === 'Welcome, visitor'), undefined, { timeout: 0, polling: 50 });
  const received: { from: string; body: string }[] = await page.evaluate(() => (window as any).heard);
  assert.deepEqual(
    received.filter((message) => message.from.startsWith(ROOM + '/')),
    [
      { from: `${ROOM}/Visitor`, body: 'Hello from a browser' },
      { from: `${ROOM}/Romeo`, body: 'Welcome, visitor' },
    ],
  );
  assert.deepEqual(errors, []);

  // Closing the page ends the guest's session: it leaves the room.
  const left = romeo.presenceFrom(`${ROOM}/Visitor`);
  await page.close();
  assert.equal((await left).attrs.type, 'unavailable');
});
