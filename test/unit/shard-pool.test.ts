import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadId as mainThreadId } from 'node:worker_threads';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { IoLinks } from '../../src/frontend/io-links.js';
import type { Delivery } from '../../src/runtime/protocol.js';
import { directoryKey } from '../../src/runtime/shard-channel.js';
import { ShardPool, UnhandledStanzas } from '../../src/runtime/shard-pool.js';
import { el } from '../../src/xml/element.js';
import { ECHO_NS, ECHO_SHARDS } from '../fixtures/echo-shard.js';

const SHARDS = 3;
const SERVICE = 'conference.localhost';

/** One stanza as a recipient gets it. */
interface Received {
  to: string;
  xml: string;
}

/** Everything the pool delivered, with a way to wait for what a test expects. */
class Recipients {
  readonly received: Received[] = [];
  /** How many times the pool called `deliver`. */
  calls = 0;
  private waiters: (() => void)[] = [];

  readonly deliver = (deliveries: Delivery[]): void => {
    this.calls++;
    for (const { head, tail, to } of deliveries) {
      for (const jid of to) this.received.push({ to: jid, xml: `${head} to='${jid}'${tail}` });
    }
    for (const wake of this.waiters.splice(0)) wake();
  };

  /** Resolves once the predicate holds over what was received. */
  async until(predicate: (received: Received[]) => boolean): Promise<void> {
    while (!predicate(this.received)) await new Promise<void>((wake) => this.waiters.push(wake));
  }

  /** The echoes of the message with this id, in order of arrival. */
  echoes(id: string): Echo[] {
    return this.received.filter(({ xml }) => xml.includes(` id='${id}'`)).map(parseEcho);
  }

  async echo(id: string): Promise<Echo> {
    await this.until(() => this.echoes(id).length > 0);
    return this.echoes(id)[0];
  }
}

interface Echo {
  to: string;
  id: string;
  shard: number;
  thread: number;
  body: string;
}

function parseEcho({ to, xml }: Received): Echo {
  const field = (pattern: RegExp) => pattern.exec(xml)?.[1] ?? assert.fail(`no ${pattern} in ${xml}`);
  return {
    to,
    id: field(/ id='([^']*)'/),
    shard: Number(field(/ shard='(\d+)'/)),
    thread: Number(field(/ thread='(\d+)'/)),
    body: /<body>([^<]*)<\/body>/.exec(xml)?.[1] ?? '',
  };
}

function message(room: string, id: string, body = id, from = 'user@localhost/res'): ReturnType<typeof el> {
  return el('message', { from, to: room, id, type: 'groupchat' }, el('body', {}, body));
}

/** Room JIDs on the given shard, found by trying names in order. */
function roomsOnShard(shard: number, count: number, prefix: string): string[] {
  const rooms: string[] = [];
  for (let i = 0; rooms.length < count; i++) {
    const room = `${prefix}${i}@${SERVICE}`;
    if (pool.shardOf(room) === shard) rooms.push(room);
  }
  return rooms;
}

let dataDir: string;
let pool: ShardPool;
let recipients: Recipients;

async function startPool(): Promise<ShardPool> {
  const settings = loadConfig({ overrides: { data_dir: dataDir, log_level: 'silent', muc: { shards: SHARDS } } });
  return ShardPool.start(settings, createLogger('silent'), recipients.deliver, ECHO_SHARDS);
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'conclave-shard-pool-'));
  recipients = new Recipients();
  pool = await startPool();
});

after(async () => {
  await pool.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a room always reaches the same shard and thread', async () => {
  const room = `same@${SERVICE}`;
  const echoes: Echo[] = [];
  for (let i = 0; i < 5; i++) {
    pool.dispatch(message(`${room}/nick`, `same-${i}`));
    echoes.push(await recipients.echo(`same-${i}`));
  }
  const shard = pool.shardOf(room);
  assert.equal(pool.shardOf(`SAME@Conference.Localhost/Other`), shard, 'case and resource do not move a room');
  for (const echo of echoes) assert.deepEqual([echo.shard, echo.thread], [shard, echoes[0].thread]);
  const view = await pool.inspect(room);
  assert.deepEqual(view, { shard, threadId: echoes[0].thread, room: { handled: 5, waiting: 0 } });
});

test('the shard of a room is FNV-1a of its lowercased bare JID, modulo the shard count', () => {
  // Published FNV-1a 32-bit test vectors: the placement must not change between versions.
  assert.equal(pool.shardOf('a'), 0xe40c292c % SHARDS);
  assert.equal(pool.shardOf('FooBar/resource'), 0xbf9cf968 % SHARDS);
});

test('each shard runs on its own thread, off the main thread', async () => {
  const threads: number[] = [];
  for (let shard = 0; shard < SHARDS; shard++) {
    const [room] = roomsOnShard(shard, 1, 'thread');
    pool.dispatch(message(room, `thread-${shard}`));
    const echo = await recipients.echo(`thread-${shard}`);
    assert.equal(echo.shard, shard);
    threads.push(echo.thread);
  }
  assert.equal(new Set(threads).size, SHARDS);
  assert.ok(!threads.includes(mainThreadId));
});

test('stanzas dispatched in one turn cross as one batch each way and keep their order', async () => {
  const rooms = Array.from({ length: SHARDS }, (_, shard) => roomsOnShard(shard, 2, 'batch')).flat();
  const perRoom = 100;
  const callsBefore = recipients.calls;
  for (let i = 0; i < perRoom; i++) {
    for (const room of rooms) pool.dispatch(message(room, `batch-${room}-${i}`, String(i), `reader@localhost/${room}`));
  }
  await recipients.until((received) => received.filter(({ xml }) => xml.includes(" id='batch-")).length === rooms.length * perRoom);
  for (const room of rooms) {
    const bodies = recipients.received.filter(({ to }) => to === `reader@localhost/${room}`).map((r) => Number(parseEcho(r).body));
    assert.deepEqual(bodies, Array.from({ length: perRoom }, (_, i) => i), `order in ${room}`);
  }
  // One inbound message per shard, handled in one worker turn, comes back as one output per shard.
  assert.equal(recipients.calls - callsBefore, SHARDS);
});

test('a stalled room holds only its own stanzas', async () => {
  const [stalled, sameShard] = roomsOnShard(0, 2, 'stall');
  const [otherShard] = roomsOnShard(1, 1, 'stall');
  pool.stall(stalled, 1500);
  pool.dispatch(message(stalled, 'stall-stalled'));
  pool.dispatch(message(sameShard, 'stall-same-shard'));
  pool.dispatch(message(otherShard, 'stall-other-shard'));
  await recipients.echo('stall-stalled');
  const order = recipients.received
    .map(({ xml }) => / id='(stall-[^']*)'/.exec(xml)?.[1])
    .filter((id) => id !== undefined);
  assert.equal(order.length, 3);
  assert.equal(order[2], 'stall-stalled', `answered in the order ${order.join(', ')}`);
});

test('a crashed shard is replaced; its occupants are told, other shards carry on', async () => {
  const [crashRoom] = roomsOnShard(1, 1, 'crash');
  const [otherRoom] = roomsOnShard(2, 1, 'crash');
  const join = (room: string, nick: string, jid: string, type?: string) =>
    el('presence', { from: jid, to: `${room}/${nick}`, id: `crash-${nick}-${type ?? 'join'}`, type });
  pool.dispatch(join(crashRoom, 'alice', 'alice@localhost/phone'));
  pool.dispatch(join(crashRoom, 'alice', 'alice@localhost/laptop'));
  pool.dispatch(join(crashRoom, 'bob', 'bob@localhost/r'));
  pool.dispatch(join(crashRoom, 'gone', 'gone@localhost/r'));
  pool.dispatch(join(crashRoom, 'gone', 'gone@localhost/r', 'unavailable'));
  pool.dispatch(join(otherRoom, 'carol', 'carol@localhost/r'));
  await recipients.until(() => recipients.echoes('crash-gone-unavailable').length === 1 && recipients.echoes('crash-carol-join').length === 1);
  const before = await pool.inspect(crashRoom);
  const otherBefore = await pool.inspect(otherRoom);

  // A stanza dispatched while the worker restarts waits for the new worker.
  let queuedDuringRestart = false;
  void recipients.until((received) => received.some(({ xml }) => xml.includes("code='332'"))).then(() => {
    pool.dispatch(message(crashRoom, 'crash-queued'));
    queuedDuringRestart = true;
  });
  await pool.crashShard(1);

  const removals = recipients.received.filter(({ xml }) => xml.includes("code='332'"));
  assert.deepEqual(
    removals.map(({ to }) => to).sort(),
    ['alice@localhost/laptop', 'alice@localhost/phone', 'bob@localhost/r'],
  );
  for (const { to, xml } of removals) {
    const nick = to.startsWith('alice') ? 'alice' : 'bob';
    assert.equal(
      xml,
      `<presence to='${to}' from='${crashRoom}/${nick}' type='unavailable'>` +
        "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>" +
        "<status code='332'/><status code='110'/></x></presence>",
    );
  }

  const after = await pool.inspect(crashRoom);
  assert.equal(after.shard, 1);
  assert.notEqual(after.threadId, before.threadId);
  assert.ok(queuedDuringRestart);
  assert.equal((await recipients.echo('crash-queued')).thread, after.threadId);
  assert.deepEqual(after.room, { handled: 1, waiting: 0 }, "the new worker has only the queued stanza, none of the old one's state");

  pool.dispatch(message(otherRoom, 'crash-other-after'));
  const other = await recipients.echo('crash-other-after');
  assert.equal(other.thread, otherBefore.threadId);
  assert.deepEqual((await pool.inspect(otherRoom)).room, { handled: 2, waiting: 0 });

  // The index was cleared with the old worker: a second crash tells nobody.
  await pool.crashShard(1);
  assert.equal(recipients.received.filter(({ xml }) => xml.includes("code='332'")).length, 3);
});

test('a crashed shard answers each stanza it had not handled with an error, once, and hands none to its successor', async () => {
  const [stalled, busy] = roomsOnShard(0, 2, 'lost');
  const alice = 'alice@localhost/r';
  pool.dispatch(el('presence', { from: alice, to: `${stalled}/alice`, id: 'lost-alice-joins' }));
  pool.dispatch(message(busy, 'lost-handled'));
  await recipients.until(() => recipients.echoes('lost-alice-joins').length + recipients.echoes('lost-handled').length === 2);

  // The stalled room holds what comes next in its mailbox: handed to the worker, not handled.
  pool.stall(stalled, 60_000);
  pool.dispatch(message(stalled, 'lost-message', 'lost', alice));
  pool.dispatch(el('iq', { from: 'bob@localhost/r', to: stalled, id: 'lost-iq', type: 'set' }, el('query', { xmlns: 'urn:example' })));
  pool.dispatch(el('presence', { from: 'carol@localhost/r', to: `${stalled}/carol`, id: 'lost-join' }));
  // These take no answer: an error, an iq result, a leave, and a stanza from the service itself.
  pool.dispatch(el('message', { from: 'dave@localhost/r', to: stalled, id: 'lost-error', type: 'error' }));
  pool.dispatch(el('iq', { from: 'erin@localhost/r', to: stalled, id: 'lost-result', type: 'result' }));
  pool.dispatch(el('presence', { from: 'frank@localhost/r', to: `${stalled}/frank`, id: 'lost-leave', type: 'unavailable' }));
  pool.dispatch(message(stalled, 'lost-from-service', 'x', `other@${SERVICE}/nick`));
  assert.deepEqual((await pool.inspect(stalled)).room, { handled: 1, waiting: 7 });
  const replaced = pool.crashShard(0);
  // Posted behind the crash request: the worker dies before it reads it.
  pool.dispatch(message(busy, 'lost-behind-crash'));
  await replaced;

  const errors = recipients.received.filter(({ xml }) => xml.includes(" id='lost-") && xml.includes(" type='error'"));
  assert.deepEqual(
    errors.map(({ to, xml }) => [to, / id='([^']*)'/.exec(xml)?.[1], / from='([^']*)'/.exec(xml)?.[1]]),
    [
      [alice, 'lost-message', stalled],
      ['bob@localhost/r', 'lost-iq', stalled],
      ['carol@localhost/r', 'lost-join', `${stalled}/carol`],
      ['user@localhost/res', 'lost-behind-crash', busy],
    ],
  );
  for (const { xml } of errors) {
    assert.match(xml, /<error type='wait'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'\/><\/error>/);
  }
  assert.deepEqual(recipients.echoes('lost-handled').length, 1, 'a stanza handled before the crash is not answered again');
  // Alice hears of her lost message before she is told she was removed.
  const aliceGot = recipients.received.filter(({ to }) => to === alice).map(({ xml }) => (xml.includes("code='332'") ? 'removed' : / id='([^']*)'/.exec(xml)?.[1]));
  assert.deepEqual(aliceGot, ['lost-alice-joins', 'lost-message', 'removed']);

  // The new worker was given none of them.
  pool.dispatch(message(stalled, 'lost-after'));
  assert.notEqual((await recipients.echo('lost-after')).thread, (await recipients.echo('lost-handled')).thread);
  assert.deepEqual((await pool.inspect(stalled)).room, { handled: 1, waiting: 0 });
  assert.equal((await pool.inspect(busy)).room, undefined);
});

test('a stanza the shard application throws on is answered with an error; the shard goes on', async () => {
  const [room] = roomsOnShard(2, 1, 'throw');
  pool.dispatch(el('iq', { from: 'bob@localhost/r', to: room, id: 'throw-iq', type: 'get' }, el('throw', { xmlns: ECHO_NS })));
  pool.dispatch(message(room, 'throw-after'));
  await recipients.echo('throw-after');
  assert.deepEqual(
    recipients.received.filter(({ xml }) => xml.includes(" id='throw-iq'")).map(({ to, xml }) => [to, xml.includes("<internal-server-error ")]),
    [['bob@localhost/r', true]],
  );
});

test("a thread's links carry its stanzas and its directory entries to the shards, and bring back the deliveries the directory places and the receipts; a restarted worker gets the thread's directory again, and the thread answers what the dead one took", async () => {
  // Two I/O threads' links, as io-thread.ts has them, each with a sender that counts its stanzas in flight.
  const threads = [new Recipients(), new Recipients()];
  const refused: [string | undefined, string][] = [];
  const moved: [string, number][] = [];
  let inFlight = 0;
  let allHandled: (() => void) | undefined;
  const sender = {
    stanzaPosted: () => inFlight++,
    stanzaHandled: () => --inFlight === 0 && allHandled?.(),
    shardCongested() {},
    shardCaughtUp() {},
  };
  const links = threads.map((thread, index) => {
    const ioLinks = new IoLinks({
      shardCount: SHARDS,
      maxInFlight: 1_000,
      paceMs: 1,
      deliver: thread.deliver,
      moved: (fullJids, shard) => {
        moved.push(...fullJids.map((jid): [string, number] => [jid, shard]));
        thread.deliver([]);
      },
      refuse: (stanzas, condition) => refused.push(...stanzas.map((stanza): [string | undefined, string] => [stanza.attrs.id, condition])),
    });
    pool.connect(index, { linked: (shard, port) => ioLinks.link(shard, port), unlinked: (shard, closed) => ioLinks.unlink(shard, closed) });
    return ioLinks;
  });
  const [one, two, nowhere] = ['a@localhost/one', 'b@localhost/two', 'c@localhost/three'];
  links[0].place(one, directoryKey(0, 1));
  links[1].place(two, directoryKey(1, 1));
  const room = `direct@${SERVICE}`;
  links[0].dispatch(message(room, 'direct-one', 'x', one), sender);
  links[1].dispatch(message(room, 'direct-two', 'x', two), sender);
  pool.dispatch(message(room, 'direct-nowhere', 'x', nowhere));
  assert.equal((await threads[0].echo('direct-one')).to, one);
  assert.equal((await threads[1].echo('direct-two')).to, two);
  assert.equal((await recipients.echo('direct-nowhere')).to, nowhere);
  assert.deepEqual([recipients.echoes('direct-one'), recipients.echoes('direct-two'), threads[0].echoes('direct-two')], [[], [], []]);

  // Thread 0's stanza waits in a stalled room when the worker dies: the thread answers it, and counts it out of flight.
  pool.stall(room, 60_000);
  // Answered after the stall, on the same port: the room is stalled before the link's stanza can reach it.
  await pool.inspect(room);
  links[0].dispatch(message(room, 'lost-on-link', 'x', one), sender);
  while ((await pool.inspect(room)).room?.waiting !== 1) await new Promise((resolve) => setImmediate(resolve));
  await pool.crashShard(pool.shardOf(room));
  assert.deepEqual(refused, [['lost-on-link', 'internal-server-error']]);
  links[0].dispatch(message(room, 'again-one', 'x', one), sender);
  assert.equal((await threads[0].echo('again-one')).to, one, 'the new worker is linked and has the thread\'s directory');
  if (inFlight > 0) await new Promise<void>((resolve) => (allHandled = resolve));
  assert.equal(inFlight, 0, 'every stanza handled or answered is out of flight');

  // The session moves to thread 1: every shard switches its entry and says so on thread 0's link, after what it sent there.
  links[1].expect(one, directoryKey(1, 2));
  links[0].move(one, directoryKey(0, 1), directoryKey(1, 2));
  await threads[0].until(() => moved.length === SHARDS);
  assert.deepEqual(moved.map(([, shard]) => shard).sort(), [0, 1, 2]);
  links[1].dispatch(message(room, 'moved-one', 'x', one), sender);
  assert.equal((await threads[1].echo('moved-one')).to, one);
  // A removal that comes late does not take the entry of the session that has the JID now, on another thread.
  links[0].unplace(one, directoryKey(0, 1));
  links[1].dispatch(message(room, 'still-one', 'x', one), sender);
  assert.equal((await threads[1].echo('still-one')).to, one);
  links[1].unplace(one, directoryKey(1, 2));
  // On the same link as the removal, so that it is handled after it.
  links[1].dispatch(message(room, 'gone-one', 'x', one), sender);
  assert.equal((await recipients.echo('gone-one')).to, one, "a session that left the directory is the pool's again");

  links[1].unplace(two, directoryKey(1, 1));
  threads.forEach((_, index) => pool.disconnect(index));
  for (const ioLinks of links) for (let shard = 0; shard < SHARDS; shard++) ioLinks.unlink(shard, true);
});

test('the stanzas the pool keeps are forgotten as their receipts come back, in any order, across batches', () => {
  const unhandled = new UnhandledStanzas();
  const stanzas = Array.from({ length: 10 }, (_, i) => el('message', { id: String(i) }));
  const ids = () => unhandled.takeAll().map((stanza) => stanza.attrs.id);
  assert.equal(unhandled.add(stanzas.slice(0, 3)), 0);
  assert.equal(unhandled.add(stanzas.slice(3, 4)), 3);
  assert.equal(unhandled.add(stanzas.slice(4, 10)), 4);
  unhandled.forget([0, 2, 5, 7]);
  unhandled.forget([3, 4]);
  // Receipt 1 again changes nothing; 2 empties the first batch.
  unhandled.forget([1, 3, 8, 10]);
  assert.deepEqual(ids(), ['4', '7']);
  assert.deepEqual(ids(), [], 'taken stanzas are forgotten');

  assert.equal(unhandled.add(stanzas.slice(0, 2)), 10, 'receipts go on after a crash');
  unhandled.add(stanzas.slice(2, 5));
  unhandled.add(stanzas.slice(5, 6));
  unhandled.forget([10, 16]);
  assert.deepEqual(ids(), []);

  // One stanza held while 200 later batches come and go (the handled ones leave the list in bulk).
  const first = unhandled.add(stanzas.slice(0, 2));
  for (let i = 0; i < 200; i++) {
    const next = unhandled.add(stanzas.slice(2, 5));
    unhandled.forget(i === 0 ? [first, first + 1, next, next + 3] : [next, next + 3]);
  }
  const last = unhandled.add(stanzas.slice(5, 7));
  unhandled.forget([last + 1, last + 2]);
  assert.deepEqual(ids(), ['1', '5']);
});
