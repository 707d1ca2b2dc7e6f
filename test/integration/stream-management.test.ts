// Stream management (XEP-0198) with resumption and client state indication
// (XEP-0352): `@xmpp/client` (its own SM implementation) over TCP and over
// WebSocket, and raw clients for what a library does not let a test steer
// (the h it reports, a resumption that fails, an inactive client).

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { client, xml, type Client, type XmlElement } from '@xmpp/client';
import type { Element } from '../../src/xml/element.js';
import { AccountStore } from '../../src/store/accounts.js';
import { openDatabase } from '../../src/store/database.js';
import { counters } from '../../src/ops/counters.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { received } from '../helpers/xmppjs.js';
import { IO_THREADS_SKIP, RawClient, startTestServer, type TestServer } from '../helpers/server.js';

const SM = 'urn:xmpp:sm:3';
const CSI = 'urn:xmpp:csi:0';
const MUC = 'http://jabber.org/protocol/muc';
const USERS = ['romeo', 'juliet', 'nurse', 'tybalt'];

// @xmpp/client's WebSocket transport uses the global WebSocket, which Node 20 lacks.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

let server: TestServer;
const libraryClients: Client[] = [];
const rawClients: RawClient[] = [];

async function serverWithAccounts(overrides: Record<string, unknown> = {}): Promise<TestServer> {
  const started = await startTestServer({ auth: { backend: 'internal', guest_domain: 'guest.localhost' }, websocket: { enabled: true, port: 0 }, ...overrides });
  const database = openDatabase(started.dataDir);
  const accounts = new AccountStore(database);
  for (const user of USERS) await accounts.create(`${user}@localhost`, 'password');
  await database.close();
  return started;
}

before(async () => {
  server = await serverWithAccounts();
});

after(async () => {
  await Promise.all(libraryClients.map((c) => c.stop().catch(() => {})));
  await Promise.all(rawClients.map((c) => c.close().catch(() => {})));
  await server.close();
});

/** A raw client logged in (not bound yet unless `bind`), tracked for closing. */
async function connectRaw(port: number, username: string, resource?: string): Promise<RawClient> {
  const raw = await RawClient.connect(port);
  rawClients.push(raw);
  await raw.login(username, 'password', resource);
  return raw;
}

/** A MUC user with stream management enabled (resumable); resolves with its resumption id and h so far. */
async function managedOccupant(port: number, username: string, room: string, nick: string): Promise<{ user: MucTestClient; id: string; base: number }> {
  const user = await MucTestClient.login(port, username);
  rawClients.push(user.client);
  user.client.send(`<enable xmlns='${SM}' resume='true'/>`);
  const enabled = await user.client.next((s) => s.name === 'enabled' || s.name === 'failed');
  assert.equal(enabled.name, 'enabled', enabled.toString());
  assert.equal(enabled.attrs.resume, 'true');
  const base = user.client.stanzaCount;
  await user.join(room, nick);
  return { user, id: enabled.attrs.id!, base };
}

/** A new connection that authenticates as `username` and asks to resume `previd`; resolves with the answer. */
async function resumeAs(port: number, username: string, previd: string, h: number): Promise<{ raw: RawClient; answer: Element }> {
  const raw = await RawClient.connect(port);
  rawClients.push(raw);
  await raw.openStream();
  const outcome = await raw.authenticatePlain(username, 'password');
  assert.equal(outcome.name, 'success');
  const features = await raw.openStream();
  assert.ok(features.getChild('sm', SM), 'stream management is offered after authentication');
  raw.send(`<resume xmlns='${SM}' previd='${previd}' h='${h}'/>`);
  const answer = await raw.next((s) => s.name === 'resumed' || s.name === 'failed');
  return { raw, answer };
}

/** The room's owner, a plain client: the one who watches for churn. */
async function owner(room: string, port = server.port): Promise<MucTestClient> {
  const user = await MucTestClient.login(port, 'romeo');
  rawClients.push(user.client);
  await user.createRoom(room, 'Romeo');
  return user;
}

/** The room's owner, and Juliet (a plain client) in the room, seen there by him. */
async function romeoAndJuliet(room: string): Promise<{ romeo: MucTestClient; juliet: MucTestClient }> {
  const romeo = await owner(room);
  const juliet = await MucTestClient.login(server.port, 'juliet');
  rawClients.push(juliet.client);
  await juliet.join(room, 'Juliet');
  await romeo.presenceFrom(`${room}/Juliet`);
  return { romeo, juliet };
}

function groupchat(body: string): (s: Element) => boolean {
  return (s) => s.name === 'message' && s.getChildText('body') === body;
}

/** Presences from `occupant` still queued (unread) at the client. */
function presencesFrom(user: MucTestClient, occupant: string): Element[] {
  return user.client.queue.filter((s) => s.name === 'presence' && s.attrs.from === occupant);
}

/** An @xmpp/client with stream management enabled; a guest (SASL ANONYMOUS) without `username`. */
async function libraryClient(service: string, username: string | undefined, resource: string): Promise<Client> {
  const account = username === undefined ? { domain: 'guest.localhost' } : { domain: 'localhost', username, password: 'password' };
  const xmpp = client({ service, resource, ...account });
  xmpp.on('error', () => {}); // start() rejects with the same error; a dropped connection is expected here
  libraryClients.push(xmpp);
  // The library enables stream management after binding, when it is already online.
  const enabled = new Promise<void>((resolve) => {
    const listener = (element: XmlElement) => {
      if (element.name !== 'enabled') return;
      xmpp.off('element', listener);
      resolve();
    };
    xmpp.on('element', listener);
  });
  await xmpp.start();
  await enabled;
  return xmpp;
}


for (const transport of ['TCP', 'WebSocket'] as const) {
  test(`@xmpp/client over ${transport} resumes after its connection drops: no unavailable in the room, the missed messages arrive`, async () => {
    const room = `resume-${transport.toLowerCase()}@conference.localhost`;
    const romeo = await owner(room);
    const service = transport === 'TCP' ? `xmpp://127.0.0.1:${server.port}` : `ws://127.0.0.1:${server.websocketPort}/xmpp-websocket`;
    const juliet = await libraryClient(service, 'juliet', `phone-${transport}`);
    assert.equal(juliet.streamManagement.enabled, true, 'the library enabled stream management');
    const joined = received(juliet, (s) => s.name === 'message' && s.getChild('subject') !== undefined);
    await juliet.send(xml('presence', { to: `${room}/Juliet` }, xml('x', { xmlns: MUC })));
    await joined;
    await romeo.presenceFrom(`${room}/Juliet`);

    const bodies: string[] = [];
    juliet.on('stanza', (s: XmlElement) => {
      if (s.name === 'message' && s.getChildText('body') !== null) bodies.push(s.getChildText('body')!);
    });
    const missed = Promise.all(['while away 1', 'while away 2'].map((body) => received(juliet, (s) => s.getChildText('body') === body)));
    const resumed = once(juliet.streamManagement, 'resumed');
    // The connection drops without a word from either side.
    if (transport === 'TCP') juliet.socket!.destroy!();
    else juliet.socket!.socket!.close();
    romeo.say(room, 'while away 1');
    romeo.say(room, 'while away 2');
    await romeo.client.next(groupchat('while away 2'));
    await resumed;
    await missed;
    assert.deepEqual(bodies, ['while away 1', 'while away 2'], 'each missed message once, in order');

    // Still an occupant: what she says reaches the room under her nickname.
    await juliet.send(xml('message', { to: room, type: 'groupchat' }, xml('body', {}, 'I am back')));
    const back = await romeo.messageFrom(`${room}/Juliet`);
    assert.equal(back.getChildText('body'), 'I am back');
    assert.deepEqual(presencesFrom(romeo, `${room}/Juliet`), [], 'the room saw her neither leave nor join again');
  });
}

test('a guest cannot resume (it logs in as a new JID each time): its session ends with its connection', async () => {
  const room = 'guest-resume@conference.localhost';
  const romeo = await owner(room);
  const guest = await libraryClient(`ws://127.0.0.1:${server.websocketPort}/xmpp-websocket`, undefined, 'web');
  assert.ok(!guest.streamManagement.id, 'stream management without resumption');
  const joined = received(guest, (s) => s.name === 'message' && s.getChild('subject') !== undefined);
  await guest.send(xml('presence', { to: `${room}/Guest` }, xml('x', { xmlns: MUC })));
  await joined;
  await romeo.presenceFrom(`${room}/Guest`);
  // The connection drops: the session ends at once.
  guest.socket!.socket!.close();
  assert.equal((await romeo.presenceFrom(`${room}/Guest`)).attrs.type, 'unavailable');
});

test('a raw resumption with h replays only what the client did not acknowledge', async () => {
  const room = 'replay@conference.localhost';
  const romeo = await owner(room);
  const { user: juliet, id, base } = await managedOccupant(server.port, 'juliet', room, 'Juliet');
  await romeo.presenceFrom(`${room}/Juliet`);
  romeo.say(room, 'seen');
  await juliet.client.next(groupchat('seen'));
  const h = juliet.client.stanzaCount - base;
  juliet.client.socket.destroy();
  romeo.say(room, 'not seen');
  await romeo.client.next(groupchat('not seen'));

  const { raw, answer } = await resumeAs(server.port, 'juliet', id, h);
  assert.equal(answer.name, 'resumed', answer.toString());
  assert.equal(answer.attrs.previd, id);
  const replayed = await raw.next((s) => s.name === 'message' || s.name === 'presence');
  assert.equal(replayed.getChildText('body'), 'not seen', 'the first stanza replayed is the first not acknowledged');

  // The server counts what the resumed stream handles on from where it was.
  raw.send(`<r xmlns='${SM}'/>`);
  const ack = await raw.next((s) => s.name === 'a');
  assert.match(ack.attrs.h!, /^\d+$/);
  raw.send(`<message type='groupchat' to='${room}'><body>resumed</body></message>`);
  assert.equal((await romeo.messageFrom(`${room}/Juliet`)).getChildText('body'), 'resumed');
  assert.deepEqual(presencesFrom(romeo, `${room}/Juliet`), []);
});

test('what a resumption replays is stamped delayed (XEP-0203) by the server at the time it was first sent; a room\'s history keeps its own stamp alone, an iq has none', async () => {
  const room = 'replay-delay@conference.localhost';
  const romeo = await owner(room);
  romeo.say(room, 'history');
  await romeo.client.next(groupchat('history'));
  const first = Date.now();
  const { user: juliet, id } = await managedOccupant(server.port, 'juliet', room, 'Juliet');
  await juliet.client.next(groupchat('history'));
  await juliet.client.ping('before-drop');
  juliet.client.socket.destroy();
  romeo.say(room, 'missed');
  await romeo.client.next(groupchat('missed'));

  const resumedAt = Date.now();
  const { raw, answer } = await resumeAs(server.port, 'juliet', id, 0);
  assert.equal(answer.name, 'resumed', answer.toString());
  await raw.arrived(groupchat('missed'));
  const replayed = raw.queue.filter((s) => s.name === 'message' || s.name === 'presence' || s.name === 'iq');
  const delaysOf = (stanza: Element) => stanza.getChildren('delay', 'urn:xmpp:delay');
  for (const stanza of replayed) {
    const delays = delaysOf(stanza);
    if (stanza.name === 'iq') assert.equal(delays.length, 0, 'an iq is not stamped');
    else if (stanza.getChildText('body') === 'history') {
      assert.deepEqual(delays.map((delay) => delay.attrs.from), [room], 'the history keeps the room\'s stamp only');
    } else {
      assert.deepEqual(delays.map((delay) => delay.attrs.from), ['localhost'], stanza.toString());
      const stamp = Date.parse(delays[0]!.attrs.stamp!);
      assert.ok(stamp >= first - 1 && stamp <= resumedAt, `stamped when first sent: ${delays[0]!.attrs.stamp}`);
    }
  }
  assert.ok(replayed.some((s) => s.name === 'iq'), 'the ping\'s result was replayed too');
  assert.ok(replayed.some((s) => s.name === 'presence'), 'the join\'s presences were replayed too');
});

test('a session not resumed in time ends as a disconnect: the room sees it leave, and the resumption fails', async () => {
  const quick = await serverWithAccounts({ client: { resumption_timeout: 0.2 } });
  try {
    const room = 'timeout@conference.localhost';
    const romeo = await owner(room, quick.port);
    const { user: juliet, id } = await managedOccupant(quick.port, 'juliet', room, 'Juliet');
    await romeo.presenceFrom(`${room}/Juliet`);
    juliet.client.socket.destroy();
    const left = await romeo.presenceFrom(`${room}/Juliet`);
    assert.equal(left.attrs.type, 'unavailable');
    assert.match(left.getChildText('status') ?? '', /Resumption timed out/);

    const { raw, answer } = await resumeAs(quick.port, 'juliet', id, 0);
    assert.equal(answer.name, 'failed');
    assert.ok(answer.getChild('item-not-found'), answer.toString());
    // The stream goes on: the client may bind a new session.
    raw.send(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    assert.equal((await raw.reply('bind')).attrs.type, 'result');
  } finally {
    await quick.close();
  }
});

test('a hibernating session that misses more than max_unacked_stanzas ends as a disconnect', async () => {
  const small = await serverWithAccounts({ client: { max_unacked_stanzas: 10 } });
  try {
    const room = 'overflow@conference.localhost';
    const romeo = await owner(room, small.port);
    const { user: juliet, base } = await managedOccupant(small.port, 'juliet', room, 'Juliet');
    await romeo.presenceFrom(`${room}/Juliet`);
    // Everything so far acknowledged: the queue is empty when the connection drops.
    juliet.client.send(`<a xmlns='${SM}' h='${juliet.client.stanzaCount - base}'/>`);
    await juliet.client.ping();
    juliet.client.send(`<a xmlns='${SM}' h='${juliet.client.stanzaCount - base}'/>`);
    juliet.client.socket.destroy();
    for (let i = 0; i < 11; i++) romeo.say(room, `message ${i}`);
    const left = await romeo.presenceFrom(`${room}/Juliet`);
    assert.equal(left.attrs.type, 'unavailable');
    assert.match(left.getChildText('status') ?? '', /Too much missed while away/);
  } finally {
    await small.close();
  }
});

test('a hibernating mobile client whose room churns far past max_unacked_stanzas still resumes: the latest presence of each occupant, every message in order', async () => {
  const small = await serverWithAccounts({ client: { max_unacked_stanzas: 10 } });
  try {
    const room = 'churn@conference.localhost';
    const romeo = await owner(room, small.port);
    const churners = [];
    for (const [username, nick] of [['nurse', 'Nurse'], ['tybalt', 'Tybalt']] as const) {
      const user = await MucTestClient.login(small.port, username);
      rawClients.push(user.client);
      await user.join(room, nick);
      churners.push({ user, nick });
    }
    const { user: juliet, id, base } = await managedOccupant(small.port, 'juliet', room, 'Juliet');
    await romeo.presenceFrom(`${room}/Juliet`);
    // A phone in a pocket: inactive, and everything so far acknowledged.
    juliet.client.send(`<inactive xmlns='${CSI}'/>`);
    await juliet.client.ping();
    juliet.client.send(`<a xmlns='${SM}' h='${juliet.client.stanzaCount - base}'/>`);
    const h = juliet.client.stanzaCount - base;
    juliet.client.socket.destroy();

    // 30 rounds of both leaving and joining again (120 presences for her) and a message every 6 rounds.
    const said: string[] = [];
    const say = async (body: string) => {
      romeo.say(room, body);
      await romeo.client.next(groupchat(body));
      said.push(body);
    };
    await say('message 0');
    for (let round = 1; round <= 30; round++) {
      for (const { user, nick } of churners) {
        await user.leave(room, nick);
        await user.join(room, nick);
      }
      if (round % 6 === 0) await say(`message ${round / 6}`);
    }
    // Their last word: Tybalt leaves for good, the nurse steps away.
    await churners[1]!.user.leave(room, 'Tybalt');
    churners[0]!.user.client.send(`<presence to='${room}/Nurse'><show>away</show></presence>`);
    await romeo.client.next((s) => s.name === 'presence' && s.attrs.from === `${room}/Nurse` && s.getChildText('show') === 'away');

    const { raw, answer } = await resumeAs(small.port, 'juliet', id, h);
    assert.equal(answer.name, 'resumed', answer.toString());
    await raw.arrived((s) => s.name === 'presence' && s.getChildText('show') === 'away');
    const replayed = raw.queue.filter((s) => s.name === 'message' || s.name === 'presence');
    const described = replayed.map((s) =>
      s.name === 'message' ? s.getChildText('body') : `${s.attrs.from!.split('/')[1]} ${s.attrs.type ?? s.getChildText('show') ?? 'available'}`,
    );
    assert.deepEqual(described, [...said, 'Tybalt unavailable', 'Nurse away'], 'one presence per occupant, its latest; every message, in order');

    // Still in the room: nobody saw her leave, and what she says reaches it.
    raw.send(`<message type='groupchat' to='${room}'><body>back</body></message>`);
    assert.equal((await romeo.messageFrom(`${room}/Juliet`)).getChildText('body'), 'back');
    assert.deepEqual(presencesFrom(romeo, `${room}/Juliet`), []);
  } finally {
    await small.close();
  }
});

test('a new session with the same resource ends the hibernating one, which can no longer be resumed', async () => {
  const room = 'replaced@conference.localhost';
  const romeo = await owner(room);
  const juliet = await MucTestClient.login(server.port, 'juliet');
  rawClients.push(juliet.client);
  const resource = juliet.fullJid.split('/')[1]!;
  juliet.client.send(`<enable xmlns='${SM}' resume='true'/>`);
  const id = (await juliet.client.next((s) => s.name === 'enabled')).attrs.id!;
  await juliet.join(room, 'Juliet');
  await romeo.presenceFrom(`${room}/Juliet`);
  juliet.client.socket.destroy();

  const again = await connectRaw(server.port, 'juliet', resource);
  assert.equal(again.fullJid, juliet.fullJid);
  const left = await romeo.presenceFrom(`${room}/Juliet`);
  assert.equal(left.attrs.type, 'unavailable', 'the replaced session left the room');
  const { answer } = await resumeAs(server.port, 'juliet', id, 0);
  assert.ok(answer.getChild('item-not-found'), answer.toString());
});

test("a session that replaces another with the same resource never gets the rooms' answers to the old one's leaves: its join's first self-presence is its own", async () => {
  const room = 'rebind@conference.localhost';
  const { romeo, juliet } = await romeoAndJuliet(room);

  // A reconnecting client that did not wait for the server to see its old connection go.
  const again = await connectRaw(server.port, 'juliet', juliet.fullJid.split('/')[1]);
  assert.equal(again.fullJid, juliet.fullJid);
  assert.equal(await juliet.client.streamError(), 'conflict');
  again.send(`<presence to='${room}/Juliet'><x xmlns='${MUC}'/></presence>`);
  const self = await again.next((s) => s.name === 'presence' && s.attrs.from === `${room}/Juliet`);
  assert.equal(self.attrs.type, undefined, `the old session's leave was answered to nobody: ${self.toString()}`);
  assert.equal((await romeo.presenceFrom(`${room}/Juliet`)).attrs.type, 'unavailable', 'the room saw the old session leave');
});

test('stream management refuses what is out of order and a wrong h', async () => {
  const raw = await RawClient.connect(server.port);
  rawClients.push(raw);
  await raw.openStream();
  await raw.authenticatePlain('nurse', 'password');
  await raw.openStream();
  raw.send(`<enable xmlns='${SM}'/>`);
  assert.ok((await raw.next((s) => s.name === 'failed')).getChild('unexpected-request'), 'enable before bind');
  raw.send(`<resume xmlns='${SM}' previd='no-such-session' h='0'/>`);
  assert.ok((await raw.next((s) => s.name === 'failed')).getChild('item-not-found'));

  const bound = await connectRaw(server.port, 'nurse');
  bound.send(`<enable xmlns='${SM}'/>`);
  const enabled = await bound.next((s) => s.name === 'enabled');
  assert.equal(enabled.attrs.id, undefined, 'no resumption unless asked');
  bound.send(`<enable xmlns='${SM}'/>`);
  assert.ok((await bound.next((s) => s.name === 'failed')).getChild('unexpected-request'), 'enable twice');
  await bound.ping();
  // A stale acknowledgement (behind the last one) changes nothing.
  bound.send(`<a xmlns='${SM}' h='1'/><a xmlns='${SM}' h='0'/>`);
  await bound.ping();
  bound.send(`<a xmlns='${SM}' h='5'/>`);
  assert.equal(await bound.streamError(), 'undefined-condition', 'h counts more stanzas than were sent');
});

describe('client state indication', () => {
  test('an inactive client gets the latest presence of each occupant and body-less messages only with the next urgent stanza', async () => {
    const room = 'csi@conference.localhost';
    const { romeo, juliet } = await romeoAndJuliet(room);
    juliet.client.queue.length = 0;
    juliet.client.send(`<inactive xmlns='${CSI}'/>`);
    const before = juliet.client.stanzaCount;

    for (const show of ['away', 'dnd']) {
      romeo.client.send(`<presence to='${room}/Romeo'><show>${show}</show></presence>`);
      await romeo.presenceFrom(`${room}/Romeo`);
    }
    romeo.client.send(`<message type='groupchat' to='${room}'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`);
    await romeo.client.next((s) => s.name === 'message' && s.getChild('composing') !== undefined);
    assert.equal(juliet.client.stanzaCount, before, 'nothing reached the inactive client yet');

    romeo.say(room, 'urgent');
    assert.equal((await juliet.client.next(groupchat('urgent'))).getChild('delay'), undefined);
    const got = juliet.client.queue.splice(0);
    assert.deepEqual(
      got.map((s) => (s.name === 'presence' ? `presence ${s.getChildText('show')}` : s.getChild('composing') ? 'composing' : s.name)),
      ['presence dnd', 'composing'],
      'the held stanzas came first, one presence per occupant (the latest)',
    );
    // XEP-0203: what was held says when it came; the urgent message that flushed it came at once.
    for (const held of got) assert.equal(held.getChild('delay', 'urn:xmpp:delay')?.attrs.from, 'localhost', held.toString());

    // Held again, until the client says it is active.
    romeo.client.send(`<presence to='${room}/Romeo'><show>xa</show></presence>`);
    await romeo.presenceFrom(`${room}/Romeo`);
    assert.equal(juliet.client.queue.length, 0);
    juliet.client.send(`<active xmlns='${CSI}'/>`);
    assert.equal((await juliet.presenceFrom(`${room}/Romeo`)).getChildText('show'), 'xa');
  });

  test('@xmpp/client: an inactive client with stream management gets what was held on <active/>', async () => {
    const room = 'csi-library@conference.localhost';
    const romeo = await owner(room);
    const juliet = await libraryClient(`xmpp://127.0.0.1:${server.port}`, 'juliet', 'csi');
    const joined = received(juliet, (s) => s.name === 'message' && s.getChild('subject') !== undefined);
    await juliet.send(xml('presence', { to: `${room}/Juliet` }, xml('x', { xmlns: MUC })));
    await joined;
    await romeo.presenceFrom(`${room}/Juliet`);
    await juliet.send(xml('inactive', { xmlns: CSI }));
    const away = received(juliet, (s) => s.name === 'presence' && s.attrs.from === `${room}/Romeo`);
    romeo.client.send(`<presence to='${room}/Romeo'><show>away</show></presence>`);
    await romeo.presenceFrom(`${room}/Romeo`);
    await juliet.send(xml('active', { xmlns: CSI }));
    assert.equal((await away).getChildText('show'), 'away');
  });
});

/** Romeo owns `room` and Juliet, resumable, is in it, on a server with three I/O threads; `body` runs, then the server stops. */
async function onThreads(room: string, body: (threaded: TestServer, romeo: MucTestClient, juliet: Awaited<ReturnType<typeof managedOccupant>>) => Promise<void>): Promise<void> {
  // WebSocket clients are served on the main thread (load.ts), which would keep the I/O threads off.
  const threaded = await serverWithAccounts({ client: { io_threads: 3 }, websocket: { enabled: false } });
  try {
    const romeo = await owner(room, threaded.port);
    const juliet = await managedOccupant(threaded.port, 'juliet', room, 'Juliet');
    await romeo.presenceFrom(`${room}/Juliet`);
    await body(threaded, romeo, juliet);
  } finally {
    await threaded.close();
  }
}

test('with I/O threads, resumption follows the client to whichever thread its new connection reached: room presence kept, every message once and in order', { skip: IO_THREADS_SKIP }, async () => {
  const room = 'threads@conference.localhost';
  await onThreads(room, async (threaded, romeo, { user: juliet, id, base }) => {
    const fromRomeo = (s: Element) => s.name === 'message' && s.attrs.from === `${room}/Romeo`;
    const sent: string[] = [];
    const got: string[] = [];
    let connection = juliet.client;
    let h = 0;
    let counted = base;
    let moves = 0;
    for (let round = 0; round < 12; round++) {
      const thread = threaded.ioThreadOf(juliet.fullJid);
      // Everything sent so far has arrived (the last of it was awaited): it is what the client acknowledges.
      got.push(...connection.queue.filter(fromRomeo).map((s) => s.getChildText('body')!));
      h += connection.stanzaCount - counted;
      connection.socket.destroy();
      // Sent while the client is away.
      sent.push(`away ${round}`);
      romeo.say(room, `away ${round}`);
      await romeo.client.next(groupchat(`away ${round}`));
      const raw = await RawClient.connect(threaded.port);
      rawClients.push(raw);
      await raw.openStream();
      assert.equal((await raw.authenticatePlain('juliet', 'password')).name, 'success');
      await raw.openStream();
      // Sent as the resumption starts: it reaches the session before, during or after its hand-over.
      raw.send(`<resume xmlns='${SM}' previd='${id}' h='${h}'/>`);
      sent.push(`during ${round}`);
      romeo.say(room, `during ${round}`);
      const answer = await raw.next((s) => s.name === 'resumed' || s.name === 'failed');
      assert.equal(answer.name, 'resumed', answer.toString());
      await raw.arrived(groupchat(`during ${round}`));
      connection = raw;
      counted = 0;
      if (threaded.ioThreadOf(juliet.fullJid) !== thread) moves++;
    }
    got.push(...connection.queue.filter(fromRomeo).map((s) => s.getChildText('body')!));
    assert.ok(moves > 0, 'some resumptions reached another thread');
    assert.deepEqual(presencesFrom(romeo, `${room}/Juliet`), [], 'the other occupants saw no unavailable');
    assert.deepEqual(got, sent);
    connection.send(`<presence type='unavailable' to='${room}/Juliet'/>`);
    assert.equal((await romeo.presenceFrom(`${room}/Juliet`)).attrs.type, 'unavailable');
  });
});

test('with I/O threads, what a session holds for an inactive client moves with it, and refusals stay refusals', { skip: IO_THREADS_SKIP }, async () => {
  const room = 'held@conference.localhost';
  await onThreads(room, async (threaded, romeo, { user: juliet, id, base }) => {
    let connection = juliet.client;
    let h = connection.stanzaCount - base;
    let moves = 0;
    for (let round = 0; round < 8; round++) {
      const thread = threaded.ioThreadOf(juliet.fullJid);
      connection.send(`<inactive xmlns='${CSI}'/>`);
      romeo.client.send(`<presence to='${room}/Romeo'><show>away</show><status>round ${round}</status></presence>`);
      await romeo.presenceFrom(`${room}/Romeo`);
      // Refused wherever they land: an id nobody has, and juliet's id from another account.
      for (const [user, previd] of [['nurse', id], ['juliet', 'no-such-id']] as const) {
        const { raw, answer } = await resumeAs(threaded.port, user, previd, 0);
        assert.ok(answer.name === 'failed' && answer.getChild('item-not-found'), answer.toString());
        await raw.close();
      }
      connection.socket.destroy();
      const { raw, answer } = await resumeAs(threaded.port, 'juliet', id, h);
      assert.equal(answer.name, 'resumed', answer.toString());
      if (threaded.ioThreadOf(juliet.fullJid) !== thread) moves++;
      raw.send(`<active xmlns='${CSI}'/>`);
      const held = await raw.next((s) => s.name === 'presence' && s.attrs.from === `${room}/Romeo`);
      assert.equal(held.getChildText('status'), `round ${round}`);
      connection = raw;
      h += raw.stanzaCount;
    }
    assert.ok(moves > 0, 'some resumptions reached another thread');
    assert.deepEqual(presencesFrom(romeo, `${room}/Juliet`), [], 'the other occupants saw no unavailable');
    // A wrong h still ends the session, once, after it moved or not.
    connection.socket.destroy();
    await assert.rejects(resumeAs(threaded.port, 'juliet', id, h + 1000), /connection closed/);
    assert.equal((await romeo.presenceFrom(`${room}/Juliet`)).attrs.type, 'unavailable');
  });
});

test('with I/O threads, a resumption before the server saw the old connection fail closes that connection, on whichever thread', { skip: IO_THREADS_SKIP }, async () => {
  const room = 'early@conference.localhost';
  await onThreads(room, async (threaded, romeo, { user: juliet, id, base }) => {
    let connection = juliet.client;
    let h = connection.stanzaCount - base;
    for (let round = 0; round < 6; round++) {
      const { raw, answer } = await resumeAs(threaded.port, 'juliet', id, h);
      assert.equal(answer.name, 'resumed', answer.toString());
      await connection.closed;
      romeo.say(room, `after ${round}`);
      await raw.next(groupchat(`after ${round}`));
      connection = raw;
      h += raw.stanzaCount;
    }
    assert.deepEqual(presencesFrom(romeo, `${room}/Juliet`), [], 'the other occupants saw no unavailable');
  });
});

test("with I/O threads, a session resumed on another thread gets its room's traffic straight from the shard once the shard moved its entry: none of it passes its old thread", { skip: IO_THREADS_SKIP }, async () => {
  const room = 'follows@conference.localhost';
  await onThreads(room, async (threaded, romeo, { user: juliet, id, base }) => {
    const start = threaded.ioThreadOf(juliet.fullJid);
    let connection = juliet.client;
    let h = connection.stanzaCount - base;
    for (let attempt = 0; threaded.ioThreadOf(juliet.fullJid) === start; attempt++) {
      assert.ok(attempt < 40, 'a resumption reached another thread');
      connection.socket.destroy();
      const { raw, answer } = await resumeAs(threaded.port, 'juliet', id, h);
      assert.equal(answer.name, 'resumed', answer.toString());
      connection = raw;
      h += raw.stanzaCount;
    }
    // The shard moves the entry when the old thread asks, after the new one adopted the session: until
    // then the room's messages pass the old thread, which hands them to the main thread (counted).
    for (let round = 0; ; round++) {
      assert.ok(round < 100, "the shard moved the session's entry");
      const rerouted = counters.reroutedDeliveries;
      romeo.say(room, `settle ${round}`);
      await connection.next(groupchat(`settle ${round}`));
      if (counters.reroutedDeliveries === rerouted) break;
    }
    const rerouted = counters.reroutedDeliveries;
    for (let i = 0; i < 10; i++) {
      romeo.say(room, `direct ${i}`);
      assert.equal((await connection.next((s) => s.name === 'message' && s.getChild('body') !== undefined)).getChildText('body'), `direct ${i}`);
    }
    assert.equal(counters.reroutedDeliveries, rerouted, 'nothing passed the old thread');
  });
});
