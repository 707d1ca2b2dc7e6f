// A shard that dies takes only its own rooms down: with two shards and a room
// on each, the worker of one is crashed mid-traffic. Its occupants are told
// they were removed (332); its persistent room, with its affiliations, is
// back after the restart; the room on the other shard never notices.
//
// The running server does not expose its ShardPool, so this test drives a
// ShardPool directly: real worker threads running the MUC application, with
// the deliveries the front end would write recorded per recipient.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import type { Delivery } from '../../src/runtime/protocol.js';
import { ShardPool } from '../../src/runtime/shard-pool.js';
import type { Element } from '../../src/xml/element.js';
import { parseElement } from '../../src/xml/stream-parser.js';

const ROMEO = 'romeo@localhost/r';
const JULIET = 'juliet@localhost/j';
const MERCUTIO = 'mercutio@localhost/m';
const BENVOLIO = 'benvolio@localhost/b';

/** What each recipient was sent, with a way to wait for a stanza. */
class Mailboxes {
  private readonly received = new Map<string, Element[]>();
  private waiters: { jid: string; predicate: (s: Element) => boolean; resolve(s: Element): void }[] = [];

  readonly deliver = (deliveries: Delivery[]): void => {
    for (const { head, tail, to } of deliveries) {
      for (const jid of to) {
        const stanza = parseElement(`${head} to='${jid}'${tail}`);
        const list = this.received.get(jid) ?? [];
        list.push(stanza);
        this.received.set(jid, list);
        this.waiters = this.waiters.filter((waiter) => {
          if (waiter.jid !== jid || !waiter.predicate(stanza)) return true;
          waiter.resolve(stanza);
          return false;
        });
      }
    }
  };

  all(jid: string): Element[] {
    return this.received.get(jid) ?? [];
  }

  /** The first stanza sent to `jid` that matches, already received or still to come. */
  next(jid: string, predicate: (s: Element) => boolean): Promise<Element> {
    const found = this.all(jid).find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ jid, predicate, resolve }));
  }
}

const hasStatus = (code: string) => (s: Element) =>
  s.getChild('x', 'http://jabber.org/protocol/muc#user')?.getChildren('status').some((status) => status.attrs.code === code) ?? false;

describe('shard crash', { timeout: 60_000 }, () => {
  let dataDir: string;
  let pool: ShardPool;
  const boxes = new Mailboxes();
  let counter = 0;

  const send = (xml: string) => pool.dispatch(parseElement(xml));
  const iq = async (from: string, to: string, payload: string, type = 'set'): Promise<Element> => {
    const id = `iq${++counter}`;
    send(`<iq from='${from}' to='${to}' type='${type}' id='${id}'>${payload}</iq>`);
    return boxes.next(from, (s) => s.name === 'iq' && s.attrs.id === id);
  };
  const enter = (from: string, room: string, nick: string) => {
    send(`<presence from='${from}' to='${room}/${nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    return boxes.next(from, (s) => s.name === 'presence' && s.attrs.from === `${room}/${nick}` && hasStatus('110')(s));
  };
  const say = (from: string, room: string, id: string) =>
    send(`<message from='${from}' to='${room}' type='groupchat' id='${id}'><body>${id}</body></message>`);
  const heard = (jid: string, id: string) => boxes.next(jid, (s) => s.name === 'message' && s.attrs.id === id);

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'conclave-crash-'));
    const settings = loadConfig({ profile: 'scansion', overrides: { data_dir: dataDir, log_level: 'silent', muc: { shards: 2 } } });
    pool = await ShardPool.start(settings, createLogger('silent'), boxes.deliver);
  });

  after(async () => {
    await pool.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('tells only the dead shard’s occupants (332) and keeps its persistent room', async () => {
    // Two rooms, one on each shard.
    const roomOn = (shard: number) => {
      for (let i = 0; ; i++) if (pool.shardOf(`room${i}@conference.localhost`) === shard) return `room${i}@conference.localhost`;
    };
    const doomed = roomOn(0);
    const safe = roomOn(1);

    await enter(ROMEO, doomed, 'Romeo');
    const instantPersistent = `<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query>`;
    assert.equal((await iq(ROMEO, doomed, instantPersistent)).attrs.type, 'result');
    const member = `<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='juliet@localhost' nick='Juliet'/></query>`;
    assert.equal((await iq(ROMEO, doomed, member)).attrs.type, 'result');
    await enter(JULIET, doomed, 'Juliet');

    await enter(MERCUTIO, safe, 'Mercutio');
    await iq(MERCUTIO, safe, `<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query>`);
    await enter(BENVOLIO, safe, 'Benvolio');

    // Traffic in both rooms, then the crash while it flows.
    say(ROMEO, doomed, 'a1');
    say(MERCUTIO, safe, 'b1');
    const crashed = pool.crashShard(0);
    say(BENVOLIO, safe, 'b2');
    await crashed;
    say(MERCUTIO, safe, 'b3');

    for (const jid of [ROMEO, JULIET]) {
      const removed = await boxes.next(jid, hasStatus('332'));
      assert.equal(removed.attrs.type, 'unavailable');
      assert.equal(removed.attrs.from?.startsWith(doomed + '/'), true);
    }
    for (const id of ['b1', 'b2', 'b3']) {
      await heard(MERCUTIO, id);
      await heard(BENVOLIO, id);
    }
    for (const jid of [MERCUTIO, BENVOLIO]) assert.equal(boxes.all(jid).filter(hasStatus('332')).length, 0, jid);
    const safeRoom = (await pool.inspect(safe)).room!;
    assert.deepEqual((safeRoom.occupants as { nick: string }[]).map((o) => o.nick), ['Mercutio', 'Benvolio']);

    // The persistent room is back, empty, with its affiliations.
    const list = await iq(ROMEO, doomed, `<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query>`, 'get');
    assert.deepEqual(
      list.getChild('query')!.getChildren('item').map((item) => item.attrs),
      [{ affiliation: 'member', jid: 'juliet@localhost', nick: 'Juliet' }],
    );
    const doomedRoom = (await pool.inspect(doomed)).room!;
    assert.deepEqual(doomedRoom.occupants, []);
    const rejoined = await enter(JULIET, doomed, 'Juliet');
    assert.equal(hasStatus('201')(rejoined), false);
  });
});
