// A shard that dies takes only its own rooms down. On a running server with
// two shards, clients over real sockets fill a persistent room on one shard
// and a room on the other; the first shard's worker is crashed while the
// other room's groupchat flows. The dead shard's occupants are told they were
// removed (332, with 110 for self) and can rejoin; the persistent room comes
// back with its configuration, affiliations and reserved nickname; the room
// on the other shard never hears of it and its groupchat never stops.
//
// A shard that dies loses nothing silently: the stanzas it had been handed
// and had not handled yet (here held in a stalled room's mailbox) are each
// answered with an error, the leave among them excepted, and the server goes
// on serving the room.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Element } from '../../src/xml/element.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const MUC_USER = 'http://jabber.org/protocol/muc#user';
const MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const DELAY = 'urn:xmpp:delay';

const statuses = (stanza: Element): string[] =>
  stanza.getChild('x', MUC_USER)?.getChildren('status').map((status) => status.attrs.code) ?? [];
const body = (stanza: Element): string | undefined => stanza.getChildText('body') ?? undefined;

/** The next presence the client gets from its own occupant JID, telling it so (110). */
const selfPresence = (client: MucTestClient, occupant: string): Promise<Element> =>
  client.client.next((s) => s.name === 'presence' && s.attrs.from === occupant && statuses(s).includes('110'));

describe('shard crash', { timeout: 60_000 }, () => {
  let server: TestServer;
  /** The shard that is crashed, and the persistent room on it. */
  const doomedShard = 0;
  let doomed: string;
  /** A room on the other shard. */
  let safe: string;
  let romeo: MucTestClient;
  let juliet: MucTestClient;
  let mercutio: MucTestClient;
  let benvolio: MucTestClient;

  before(async () => {
    server = await startTestServer({ muc: { shards: 2 } });
    const roomOn = (shard: number) => {
      for (let i = 0; ; i++) if (server.shards.shardOf(`room${i}@conference.localhost`) === shard) return `room${i}@conference.localhost`;
    };
    doomed = roomOn(doomedShard);
    safe = roomOn(1);
    [romeo, juliet, mercutio, benvolio] = await Promise.all(
      ['romeo', 'juliet', 'mercutio', 'benvolio'].map((name) => MucTestClient.login(server.port, name)),
    );
  });

  after(async () => {
    await Promise.all([romeo, juliet, mercutio, benvolio].map((client) => client?.close()));
    await server?.close();
  });

  it('tells only the dead shard’s occupants (332), keeps its persistent room, and never stops the other shard', async () => {
    await romeo.createRoom(doomed, 'Romeo', { 'muc#roomconfig_persistentroom': '1', 'muc#roomconfig_roomname': 'Capulet hall' });
    await romeo.iq(
      'set',
      doomed,
      `<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='juliet@localhost' nick='Jules'/></query>`,
    );
    assert.equal(statuses(await selfPresence(romeo, `${doomed}/Romeo`)).includes('201'), true, 'Romeo created the room');
    await juliet.join(doomed, 'Jules');
    await selfPresence(juliet, `${doomed}/Jules`);
    juliet.say(doomed, 'a1');
    assert.equal(body(await romeo.messageFrom(`${doomed}/Jules`)), 'a1');

    await mercutio.createRoom(safe, 'Mercutio');
    await benvolio.join(safe, 'Benvolio');
    const safeBefore = await server.shards.inspect(safe);
    const doomedBefore = await server.shards.inspect(doomed);
    assert.notEqual(safeBefore.threadId, doomedBefore.threadId);

    // Groupchat in the safe room, turn about; each line is heard by both, in order, before the next is said.
    let line = 0;
    const exchange = async (): Promise<void> => {
      const [speaker, nick] = line % 2 === 0 ? [mercutio, 'Mercutio'] : [benvolio, 'Benvolio'];
      const text = `b${line++}`;
      speaker.say(safe, text);
      for (const listener of [mercutio, benvolio]) assert.equal(body(await listener.messageFrom(`${safe}/${nick}`)), text);
    };

    for (let i = 0; i < 3; i++) await exchange();
    // The crash mid-traffic: the safe room keeps talking, line after line, until the replacement is ready, so its lines cross the death and the restart.
    let replaced = false;
    const crashed = server.shards.crashShard(doomedShard).then(() => (replaced = true));
    do {
      await exchange();
    } while (!replaced);
    await crashed;

    for (const [client, nick] of [[romeo, 'Romeo'], [juliet, 'Jules']] as const) {
      const removed = await client.client.next((s) => s.name === 'presence' && statuses(s).includes('332'));
      assert.equal(removed.attrs.from, `${doomed}/${nick}`);
      assert.equal(removed.attrs.type, 'unavailable');
      assert.deepEqual(statuses(removed).sort(), ['110', '332']);
      assert.deepEqual(removed.getChild('x', MUC_USER)?.getChild('item')?.attrs, { affiliation: 'none', role: 'none' });
    }

    // A new worker loads the room from storage on its first stanza, with its configuration, affiliations and reserved nickname.
    const form = (await romeo.iq('get', doomed, `<query xmlns='${MUC_OWNER}'/>`)).getChild('query')!.getChild('x')!;
    const value = (name: string) => form.getChildren('field').find((f) => f.attrs.var === name)?.getChildText('value');
    assert.equal(value('muc#roomconfig_persistentroom'), '1');
    assert.equal(value('muc#roomconfig_roomname'), 'Capulet hall');
    assert.deepEqual((await romeo.affiliationList(doomed, 'owner')).map((item) => item.attrs), [{ affiliation: 'owner', jid: 'romeo@localhost' }]);
    assert.deepEqual((await romeo.affiliationList(doomed, 'member')).map((item) => item.attrs), [
      { affiliation: 'member', jid: 'juliet@localhost', nick: 'Jules' },
    ]);
    assert.equal(await juliet.reservedNick(doomed), 'Jules');
    const doomedAfter = await server.shards.inspect(doomed);
    assert.notEqual(doomedAfter.threadId, doomedBefore.threadId);
    assert.deepEqual(doomedAfter.room?.occupants, []);
    // The reservation still holds against someone else.
    mercutio.client.send(`<presence to='${doomed}/Jules'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    const refused = await mercutio.client.next((s) => s.name === 'presence' && s.attrs.from === `${doomed}/Jules`);
    assert.equal(refused.attrs.type, 'error');
    assert.equal(refused.getChild('error')?.getChild('conflict', STANZAS) !== undefined, true, refused.toString());

    // Its occupants walk back into the existing room, not a new one, and talk again.
    await romeo.join(doomed, 'Romeo');
    const back = await selfPresence(romeo, `${doomed}/Romeo`);
    assert.equal(statuses(back).includes('201'), false, back.toString());
    assert.equal(back.getChild('x', MUC_USER)?.getChild('item')?.attrs.affiliation, 'owner');
    await juliet.join(doomed, 'Jules');
    juliet.say(doomed, 'a2');
    // Romeo's rejoin replays the room's history (a1, delayed); the live line is the first without a delay.
    const live = await romeo.client.next(
      (s) => s.name === 'message' && s.attrs.from === `${doomed}/Jules` && s.getChild('delay', DELAY) === undefined,
    );
    assert.equal(body(live), 'a2');

    for (let i = 0; i < 3; i++) await exchange();

    // The safe room kept its worker and its occupants, and nobody in it was told of a removal.
    const safeAfter = await server.shards.inspect(safe);
    assert.equal(safeAfter.threadId, safeBefore.threadId);
    assert.deepEqual((safeAfter.room?.occupants as { nick: string }[]).map((o) => o.nick), ['Mercutio', 'Benvolio']);
    for (const client of [mercutio, benvolio]) {
      assert.deepEqual(client.client.queue.filter((s) => statuses(s).includes('332')), [], client.fullJid);
    }
  });
});

describe('stanzas in flight when a shard dies', { timeout: 30_000 }, () => {
  const room = 'inflight@conference.localhost';
  let server: TestServer;
  let romeo: MucTestClient;
  let juliet: MucTestClient;
  let mercutio: MucTestClient;

  before(async () => {
    server = await startTestServer({ muc: { shards: 2 } });
    [romeo, juliet, mercutio] = await Promise.all(['romeo', 'juliet', 'mercutio'].map((name) => MucTestClient.login(server.port, name)));
  });

  after(async () => {
    await Promise.all([romeo, juliet, mercutio].map((client) => client?.close()));
    await server?.close();
  });

  it('answers each stanza the dead worker had not handled with an error, then serves the room again', async () => {
    await romeo.createRoom(room, 'Romeo');
    await juliet.join(room, 'Jules');
    await romeo.presenceFrom(`${room}/Jules`);

    // The room's mailbox is held, so what the clients send next waits in the worker, unhandled, when it dies.
    server.shards.stall(room, 60_000);
    juliet.client.send(`<message type='groupchat' to='${room}' id='lost-message'><body>lost</body></message>`);
    juliet.client.send(`<presence type='unavailable' to='${room}/Jules' id='lost-leave'/>`);
    romeo.client.send(
      `<iq type='set' to='${room}' id='lost-config'><query xmlns='${MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'>` +
        `<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
        `<field var='muc#roomconfig_roomname'><value>Lost</value></field></x></query></iq>`,
    );
    mercutio.client.send(`<presence to='${room}/Mercutio' id='lost-join'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    while ((await server.shards.inspect(room)).room?.queued !== 4) await new Promise((resolve) => setTimeout(resolve, 10));
    await server.shards.crashShard(server.shards.shardOf(room));

    /** The answer to the stanza with this id: an error from where it was sent. */
    const lost = async (client: MucTestClient, name: string, id: string, from: string, answer?: Element): Promise<void> => {
      answer ??= await client.client.next((s) => s.name === name && s.attrs.id === id);
      assert.deepEqual([answer.name, answer.attrs.id, answer.attrs.type, answer.attrs.from], [name, id, 'error', from], answer.toString());
      const error = answer.getChild('error');
      assert.equal(error?.attrs.type, 'wait', answer.toString());
      assert.notEqual(error?.getChild('internal-server-error', STANZAS), undefined, answer.toString());
    };
    // Juliet hears of her lost message before she is told she was removed: nothing from the room after that.
    const first = await juliet.client.next((s) => s.attrs.id === 'lost-message' || statuses(s).includes('332'));
    await lost(juliet, 'message', 'lost-message', room, first);
    await lost(romeo, 'iq', 'lost-config', room);
    // A join gets a presence error: Mercutio knows he is not in the room.
    await lost(mercutio, 'presence', 'lost-join', `${room}/Mercutio`);
    for (const [client, nick] of [[romeo, 'Romeo'], [juliet, 'Jules']] as const) {
      const removed = await client.client.next((s) => s.name === 'presence' && statuses(s).includes('332'));
      assert.equal(removed.attrs.from, `${room}/${nick}`);
    }

    // The room works again on the new worker.
    await mercutio.createRoom(room, 'Mercutio');
    await juliet.join(room, 'Jules');
    await mercutio.presenceFrom(`${room}/Jules`);
    juliet.say(room, 'again');
    assert.equal(body(await mercutio.messageFrom(`${room}/Jules`)), 'again');
    assert.deepEqual(((await server.shards.inspect(room)).room?.occupants as { nick: string }[]).map((o) => o.nick), ['Mercutio', 'Jules']);
    // No second answer: the lost stanzas were not replayed to the new worker, and the leave took none.
    for (const client of [romeo, juliet, mercutio]) {
      assert.deepEqual(client.client.queue.filter((s) => s.attrs.id?.startsWith('lost-')), [], client.fullJid);
    }
  });
});
