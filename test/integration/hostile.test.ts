// Hostile input: every attack gets its stream error (or is cut off), and a
// bystander connected all along still gets its pings answered afterwards.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { RawClient, rawClient, startTestServer, type TestServer } from '../helpers/server.js';

const HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`;

const BILLION_LAUGHS =
  `<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol "lol">` +
  Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`).join('') +
  `]><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>&lol9;`;

describe('hostile clients', () => {
  let server: TestServer;
  let bystander: RawClient;

  before(async () => {
    server = await startTestServer({
      limits: { max_stanza_size: 64 * 1024, max_stanza_size_unauthenticated: 4096, max_depth: 20, max_attributes: 30 },
    });
    bystander = await rawClient(server.port, 'bystander');
  });

  after(async () => {
    await bystander.close();
    await server.close();
  });

  /** Sends the attack on a fresh connection (logged in first when asked) and returns the stream error condition. */
  async function attack(payload: string | Buffer, options: { login?: boolean } = {}): Promise<string> {
    const attacker = await RawClient.connect(server.port);
    if (options.login) await attacker.login('mallory');
    attacker.send(payload);
    const condition = await attacker.streamError();
    await attacker.closed;
    return condition;
  }

  async function bystanderStillServed(): Promise<void> {
    assert.equal((await bystander.ping()).attrs.type, 'result');
  }

  test('an oversized stanza is a policy-violation', async () => {
    const body = 'x'.repeat(70 * 1024);
    assert.equal(await attack(`<message to='bystander@localhost'><body>${body}</body></message>`, { login: true }), 'policy-violation');
    await bystanderStillServed();
  });

  test('an oversized stanza that never ends is cut off as it grows', async () => {
    assert.equal(await attack(`<message><body>${'y'.repeat(80 * 1024)}`, { login: true }), 'policy-violation');
    await bystanderStillServed();
  });

  test('before authentication the smaller budget applies', async () => {
    const auth = `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${'A'.repeat(6000)}</auth>`;
    assert.equal(await attack(HEADER + auth), 'policy-violation');
    await bystanderStillServed();
  });

  test('a stanza nested too deep is a policy-violation', async () => {
    const deep = '<x>'.repeat(50) + '</x>'.repeat(50);
    assert.equal(await attack(`<message>${deep}</message>`, { login: true }), 'policy-violation');
    await bystanderStillServed();
  });

  test('too many attributes are a policy-violation', async () => {
    const attrs = Array.from({ length: 40 }, (_, i) => `a${i}='${i}'`).join(' ');
    assert.equal(await attack(`<message ${attrs}/>`, { login: true }), 'policy-violation');
    await bystanderStillServed();
  });

  test('a DOCTYPE with entities (billion laughs) is restricted-xml', async () => {
    assert.equal(await attack(BILLION_LAUGHS), 'restricted-xml');
    await bystanderStillServed();
  });

  test('comments, processing instructions and unknown entities inside the stream are refused', async () => {
    assert.equal(await attack(HEADER + '<!-- hello -->'), 'restricted-xml');
    assert.equal(await attack(`<message><?pi data?></message>`, { login: true }), 'restricted-xml');
    assert.equal(await attack(`<message><body>&lol;</body></message>`, { login: true }), 'not-well-formed');
    await bystanderStillServed();
  });

  test('garbage bytes are not-well-formed', async () => {
    assert.equal(await attack(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x3c, 0x3c, 0x3e])), 'not-well-formed');
    assert.equal(await attack(Buffer.from([0x3c, 0x61, 0x3e, 0xc3, 0x28, 0x3c]), { login: true }), 'not-well-formed');
    assert.equal(await attack('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), 'not-well-formed');
    await bystanderStillServed();
  });

  test('a client that stops mid-stanza blocks nobody', async () => {
    const stalled = await RawClient.connect(server.port);
    await stalled.login('stalled');
    stalled.send(`<message to='bystander@localhost/x'><body>half a sent`);
    await bystanderStillServed();
    // A half-sent stanza is not delivered when the connection goes.
    stalled.socket.destroy();
    await stalled.closed;
    await bystanderStillServed();
    assert.equal(bystander.queue.length, 0);
  });

  test('a client that sends a stream header halfway blocks nobody', async () => {
    const stalled = await RawClient.connect(server.port);
    stalled.send(`<stream:stream xmlns='jabber:client' xmlns:str`);
    await bystanderStillServed();
    stalled.socket.destroy();
    await stalled.closed;
  });

  test('a client that does not read is disconnected instead of buffered without end', async () => {
    const reader = await rawClient(server.port, 'slow');
    reader.socket.pause();
    // Each message comes back to the sender, which never reads; it writes until the server cuts it off.
    const message = `<message to='${reader.fullJid}'><body>${'z'.repeat(60 * 1024)}</body></message>`;
    let closed = false;
    void reader.closed.then(() => (closed = true));
    while (!closed) {
      if (!reader.socket.write(message)) {
        // The server's reset surfaces as a write error; `closed` follows.
        await Promise.race([once(reader.socket, 'drain').catch(() => {}), reader.closed]);
      }
    }
    await bystanderStillServed();
  });
});
