// The room life cycle through the shard application: creation, locking, the
// join sequence, nick changes, messages, leaving, and the answers for rooms
// that do not exist.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { OccupantEvent } from '../../src/muc/shard-keeper.js';
import type { Element } from '../../src/xml/element.js';
import { MucHarness, ROOM, errorCondition, statusCodes } from './muc-harness.js';

const ROMEO = 'romeo@localhost/home';
const JULIET = 'juliet@localhost/balcony';
const MERCUTIO = 'mercutio@localhost/street';

describe('room life cycle', () => {
  let muc: MucHarness;

  beforeEach(async () => {
    muc = await MucHarness.start();
  });

  afterEach(async () => {
    await muc.close();
  });

  it('creates a locked room owned by its creator: self-presence with 201 and 110, then the empty subject', () => {
    const [presence, subject, ...rest] = muc.join(ROMEO, 'Romeo');
    assert.equal(rest.length, 0);
    assert.equal(presence.attrs.from, ROOM + '/Romeo');
    assert.deepEqual(statusCodes(presence), ['201', '110']);
    const item = presence.getChild('x', 'http://jabber.org/protocol/muc#user')!.getChild('item')!;
    assert.deepEqual(item.attrs, { affiliation: 'owner', role: 'moderator', jid: ROMEO });
    assert.equal(subject.toString(), `<message from='${ROOM}' type='groupchat'><subject/></message>`);
    assert.deepEqual(muc.events, [{ kind: 'occupant', room: ROOM, nick: 'Romeo', jid: ROMEO, present: true }]);
  });

  it('keeps others out of a locked room until the owner configures it', () => {
    muc.join(ROMEO, 'Romeo');
    const [refusal] = muc.join(JULIET, 'Juliet');
    assert.equal(refusal.attrs.type, 'error');
    assert.equal(errorCondition(refusal), 'item-not-found');
    muc.receive(
      `<iq from='${ROMEO}' to='${ROOM}' type='set' id='c1'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`,
    );
    assert.deepEqual(muc.take(ROMEO).map((s) => s.attrs.type), ['result']);
    assert.equal(muc.join(JULIET, 'Juliet').length, 3);
  });

  it('sends a joiner the occupants, then its own presence, then the subject; the others see it arrive', () => {
    muc.createRoom(ROMEO, 'Romeo');
    const got = muc.join(JULIET, 'Juliet');
    assert.deepEqual(
      got.map((s) => [s.name, s.attrs.from]),
      [
        ['presence', ROOM + '/Romeo'],
        ['presence', ROOM + '/Juliet'],
        ['message', ROOM],
      ],
    );
    // Juliet, a participant in a semi-anonymous room, does not see Romeo's real JID.
    assert.equal(got[0].getChild('x')!.getChild('item')!.attrs.jid, undefined);
    assert.deepEqual(statusCodes(got[1]), ['110']);
    const [seen] = muc.take(ROMEO);
    assert.equal(seen.attrs.from, ROOM + '/Juliet');
    assert.equal(seen.getChild('x')!.getChild('item')!.attrs.jid, JULIET);
  });

  it('refuses a nickname held by someone else, and one that fails strict validation', () => {
    muc.createRoom(ROMEO, 'Romeo');
    const [conflict] = muc.join(JULIET, 'Romeo');
    assert.equal(errorCondition(conflict), 'conflict');
    assert.equal(conflict.getChild('error')!.attrs.by, ROOM);
    const [malformed] = muc.join(JULIET, 'Jul\u0221et');
    assert.equal(errorCondition(malformed), 'jid-malformed');
    const [blank] = muc.join(JULIET, ' ');
    assert.equal(blank.attrs.type, 'error');
  });

  it('broadcasts a groupchat message as one delivery to every occupant, echo included', () => {
    muc.createRoom(ROMEO, 'Romeo');
    muc.join(JULIET, 'Juliet');
    muc.join(MERCUTIO, 'Mercutio');
    muc.take(ROMEO);
    muc.take(JULIET);
    const before = muc.deliveries.length;
    muc.receive(`<message from='${JULIET}' to='${ROOM}' type='groupchat' id='m1'><body>Hi</body></message>`);
    const deliveries = muc.deliveries.slice(before);
    assert.equal(deliveries.length, 1);
    assert.deepEqual(new Set(deliveries[0].to), new Set([ROMEO, JULIET, MERCUTIO]));
    assert.match(deliveries[0].stanza, /from='room@conference.localhost\/Juliet'/);
  });

  it('stamps one occupant id per user on presences and messages, replacing forged ones', () => {
    muc.createRoom(ROMEO, 'Romeo');
    muc.join(JULIET, 'Juliet');
    const id = (stanza: Element) => stanza.getChild('occupant-id', 'urn:xmpp:occupant-id:0')?.attrs.id;
    const [presence] = muc.take(ROMEO);
    muc.receive(
      `<message from='${JULIET}' to='${ROOM}' type='groupchat'><body>Hi</body><occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/></message>`,
    );
    const [message] = muc.take(ROMEO);
    assert.ok(id(presence));
    assert.equal(id(message), id(presence));
    assert.equal(message.getChildren('occupant-id', 'urn:xmpp:occupant-id:0').length, 1);
    const [own] = muc.join(ROMEO, 'Romeo').filter((s) => s.attrs.from === ROOM + '/Romeo');
    assert.notEqual(id(own), id(presence));
  });

  it('refuses groupchat from a non-occupant', () => {
    muc.createRoom(ROMEO, 'Romeo');
    muc.receive(`<message from='${JULIET}' to='${ROOM}' type='groupchat'><body>Hi</body></message>`);
    assert.equal(errorCondition(muc.take(JULIET)[0]), 'not-acceptable');
  });

  it('changes nickname with 303 to everyone and 110 to the occupant', () => {
    muc.createRoom(ROMEO, 'Romeo');
    muc.join(JULIET, 'Juliet');
    muc.take(ROMEO);
    muc.receive(`<presence from='${JULIET}' to='${ROOM}/Jules'/>`);
    const [gone, back] = muc.take(JULIET);
    assert.equal(gone.attrs.type, 'unavailable');
    assert.deepEqual(statusCodes(gone), ['303', '110']);
    assert.equal(gone.getChild('x')!.getChild('item')!.attrs.nick, 'Jules');
    assert.equal(back.attrs.from, ROOM + '/Jules');
    const seen = muc.take(ROMEO);
    assert.deepEqual(seen.map((s) => s.attrs.from), [ROOM + '/Juliet', ROOM + '/Jules']);
    assert.deepEqual(
      (muc.events.slice(-2) as OccupantEvent[]).map((e) => [e.nick, e.present]),
      [
        ['Juliet', false],
        ['Jules', true],
      ],
    );
  });

  it('relays private messages with an empty muc#user <x/>', () => {
    muc.createRoom(ROMEO, 'Romeo');
    muc.join(JULIET, 'Juliet');
    muc.receive(`<message from='${ROMEO}' to='${ROOM}/Juliet' type='chat'><body>psst</body></message>`);
    const [pm] = muc.take(JULIET).slice(-1);
    assert.equal(pm.attrs.from, ROOM + '/Romeo');
    assert.ok(pm.getChild('x', 'http://jabber.org/protocol/muc#user'));
    muc.receive(`<message from='${MERCUTIO}' to='${ROOM}/Juliet' type='chat'><body>hey</body></message>`);
    assert.equal(errorCondition(muc.take(MERCUTIO)[0]), 'not-acceptable');
  });

  it('relays mediated invitations with a body, and declines back to the inviter', () => {
    muc.createRoom(ROMEO, 'Romeo');
    muc.receive(
      `<message from='${ROMEO}' to='${ROOM}'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='juliet@localhost'><reason>Come</reason></invite></x></message>`,
    );
    const [invite] = muc.take('juliet@localhost');
    assert.equal(invite.attrs.from, ROOM);
    const invited = invite.getChild('x', 'http://jabber.org/protocol/muc#user')!.getChild('invite')!;
    assert.equal(invited.attrs.from, `${ROOM}/Romeo`, 'the inviter by occupant JID in a semi-anonymous room, as Prosody');
    assert.equal(invited.getChildText('reason'), 'Come');
    assert.equal(invite.getChildText('body'), `${ROOM}/Romeo invited you to the room ${ROOM} (Come)`);
    muc.receive(
      `<message from='${JULIET}' to='${ROOM}'><x xmlns='http://jabber.org/protocol/muc#user'><decline to='romeo@localhost'/></x></message>`,
    );
    const [declined] = muc.take('romeo@localhost');
    assert.equal(declined.getChild('x')!.getChild('decline')!.attrs.from, JULIET);
    muc.receive(`<message from='${ROMEO}' to='${ROOM}'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='a b@x'/></x></message>`);
    muc.receive(`<message from='${ROMEO}' to='${ROOM}'><x xmlns='http://jabber.org/protocol/muc#user'><unknown/></x></message>`);
    assert.deepEqual(muc.take(ROMEO).map(errorCondition), ['jid-malformed', 'bad-request']);
  });

  it('routes iq between occupants and back, and answers self-pings itself', () => {
    muc.createRoom(ROMEO, 'Romeo');
    muc.join(JULIET, 'Juliet');
    muc.take(ROMEO);
    muc.receive(`<iq from='${ROMEO}' to='${ROOM}/Juliet' type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>`);
    const [forwarded] = muc.take(JULIET);
    assert.equal(forwarded.attrs.from, ROOM + '/Romeo');
    assert.notEqual(forwarded.attrs.id, 'v1');
    muc.receive(`<iq from='${JULIET}' to='${ROOM}/Romeo' type='result' id='${forwarded.attrs.id}'/>`);
    const [answer] = muc.take(ROMEO);
    assert.deepEqual([answer.attrs.from, answer.attrs.id, answer.attrs.type], [ROOM + '/Juliet', 'v1', 'result']);
    muc.receive(`<iq from='${ROMEO}' to='${ROOM}/Romeo' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`);
    assert.equal(muc.take(ROMEO)[0].attrs.type, 'result');
    muc.receive(`<iq from='${MERCUTIO}' to='${ROOM}/Romeo' type='get' id='x1'><ping xmlns='urn:xmpp:ping'/></iq>`);
    assert.equal(errorCondition(muc.take(MERCUTIO)[0]), 'not-acceptable');
    muc.receive(`<iq from='${JULIET}' to='${ROOM}/Romeo' type='result' id='forged'/>`);
    assert.deepEqual(muc.take(ROMEO), []);
  });

  it('ends a temporary room when its last occupant leaves', () => {
    muc.createRoom(ROMEO, 'Romeo');
    muc.receive(`<presence from='${ROMEO}' to='${ROOM}/Romeo' type='unavailable'/>`);
    const [left] = muc.take(ROMEO);
    assert.equal(left.attrs.type, 'unavailable');
    assert.deepEqual(statusCodes(left), ['110']);
    assert.equal(muc.application.inspect(ROOM), undefined);
    muc.receive(`<message from='${ROMEO}' to='${ROOM}' type='groupchat'><body>anyone?</body></message>`);
    const [error] = muc.take(ROMEO);
    assert.equal(errorCondition(error), 'item-not-found');
    assert.equal(error.getChild('error')!.attrs.by, 'conference.localhost');
  });

  it('answers iq and presence for rooms that do not exist, and malformed room JIDs', () => {
    muc.receive(`<iq from='${ROMEO}' to='nowhere@conference.localhost' type='get' id='q'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    assert.equal(errorCondition(muc.take(ROMEO)[0]), 'item-not-found');
    muc.receive(`<presence from='${ROMEO}' to='nowhere@conference.localhost/Romeo'/>`);
    assert.equal(errorCondition(muc.take(ROMEO)[0]), 'item-not-found');
    muc.receive(`<message from='${ROMEO}' to='bad:room@conference.localhost' type='groupchat'/>`);
    muc.receive(`<iq from='${ROMEO}' to='a b@conference.localhost' type='get' id='q2'><query xmlns='jabber:iq:version'/></iq>`);
    assert.deepEqual(muc.take(ROMEO).map(errorCondition), ['jid-malformed', 'jid-malformed']);
    muc.receive(`<iq from='${ROMEO}' to='nowhere@conference.localhost' type='result' id='r'/>`);
    assert.deepEqual(muc.take(ROMEO), []);
  });

  it('answers presence probes as Prosody does', () => {
    muc.createRoom(ROMEO, 'Romeo');
    muc.receive(`<presence from='${JULIET}' to='${ROOM}/Romeo' type='probe'/>`);
    assert.equal(errorCondition(muc.take(JULIET)[0]), 'not-acceptable');
    muc.receive(`<presence from='${ROMEO}' to='${ROOM}/Romeo' type='probe'/>`);
    const [self] = muc.take(ROMEO);
    assert.equal(self.attrs.type, undefined);
    assert.deepEqual(statusCodes(self), []);
    muc.receive(`<presence from='${ROMEO}' to='${ROOM}/Nobody' type='probe'/>`);
    assert.deepEqual(muc.take(ROMEO), []);
  });

  it('describes the service and the room in disco#info', () => {
    muc.createRoom(ROMEO, 'Romeo');
    muc.receive(`<iq from='${JULIET}' to='conference.localhost' type='get' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    const [service] = muc.take(JULIET);
    assert.equal(service.getChild('query')!.getChild('identity')!.attrs.category, 'conference');
    muc.receive(`<iq from='${JULIET}' to='${ROOM}' type='get' id='d2'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    const features = muc
      .take(JULIET)[0]
      .getChild('query')!
      .getChildren('feature')
      .map((f) => f.attrs.var);
    for (const expected of ['http://jabber.org/protocol/muc', 'muc_temporary', 'muc_hidden', 'muc_open', 'muc_semianonymous', 'jabber:iq:register']) {
      assert.ok(features.includes(expected), expected);
    }
  });

  it('answers resource-constraint (wait) when a room mailbox is full', async () => {
    await muc.close();
    muc = await MucHarness.start({ mailbox_limit: 1 });
    muc.createRoom(ROMEO, 'Romeo');
    muc.application.stall(ROOM, 50);
    muc.receive(`<message from='${ROMEO}' to='${ROOM}' type='groupchat' id='a'><body>1</body></message>`);
    muc.receive(`<message from='${ROMEO}' to='${ROOM}' type='groupchat' id='b'><body>2</body></message>`);
    const [refused] = muc.take(ROMEO);
    assert.equal(refused.attrs.id, 'b');
    assert.equal(refused.getChild('error')!.attrs.type, 'wait');
    assert.equal(errorCondition(refused), 'resource-constraint');
    await muc.waitFor(ROMEO);
    assert.equal(muc.take(ROMEO)[0].attrs.id, 'a');
  });
});
