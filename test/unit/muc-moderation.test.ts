// Moderation through the shard application: bans of a whole host, and voice
// requests with malformed or hostile forms.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MucHarness, ROOM, adminSet, configSet, errorCondition, statusCodes } from './muc-harness.js';

const ROMEO = 'romeo@localhost/home';
const TYBALT = 'tybalt@capulet.example/street';
const SAMPSON = 'sampson@capulet.example/square';
const GREGORY = 'gregory@capulet.example/gate';

describe('host bans', () => {
  let muc: MucHarness;
  beforeEach(async () => {
    muc = await MucHarness.withRoom([ROMEO, 'Romeo'], [TYBALT, 'Tybalt']);
  });
  afterEach(() => muc.close());

  it('removes the occupants of the host (301) and keeps all its users out, except those with an affiliation of their own', () => {
    muc.receive(adminSet(ROMEO, `<item jid='gregory@capulet.example' affiliation='member'/>`));
    muc.receive(adminSet(ROMEO, `<item jid='capulet.example' affiliation='outcast'/>`));
    const [removed] = muc.take(TYBALT);
    assert.equal(removed.attrs.type, 'unavailable');
    assert.deepEqual(statusCodes(removed), ['301', '110']);
    assert.equal(errorCondition(muc.join(TYBALT, 'Tybalt')[0]), 'forbidden');
    assert.equal(errorCondition(muc.join(SAMPSON, 'Sampson')[0]), 'forbidden');
    const entered = muc.join(GREGORY, 'Gregory');
    assert.ok(entered.some((stanza) => statusCodes(stanza).includes('110')));
  });
});

describe('voice requests', () => {
  let muc: MucHarness;
  const request = (from: string, fields: string): string =>
    `<message from='${from}' to='${ROOM}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>${fields}</x></message>`;

  beforeEach(async () => {
    muc = await MucHarness.start();
    muc.createRoom(ROMEO, 'Romeo');
    muc.receive(configSet(ROMEO, { 'muc#roomconfig_moderatedroom': '1' }));
    muc.join(TYBALT, 'Tybalt');
    muc.take(ROMEO);
  });
  afterEach(() => muc.close());

  it('is announced in disco#info, with the room moderated', () => {
    muc.receive(`<iq from='${ROMEO}' to='${ROOM}' type='get' id='disco'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    const features = muc.take(ROMEO)[0].getChild('query')!.getChildren('feature').map((feature) => feature.attrs.var);
    assert.ok(features.includes('http://jabber.org/protocol/muc#request'));
    assert.ok(features.includes('muc_moderated'));
  });

  it('forwards a visitor’s request to the moderators only', () => {
    muc.join(SAMPSON, 'Sampson');
    muc.take(TYBALT);
    muc.take(ROMEO);
    muc.receive(request(TYBALT, ''));
    const [forwarded] = muc.take(ROMEO);
    assert.equal(forwarded.getChild('x', 'jabber:x:data')?.getChildText('title'), 'Voice Request');
    assert.deepEqual(muc.take(SAMPSON), []);
    assert.deepEqual(muc.take(TYBALT), []);
  });

  it('ignores approvals with malformed fields and grants voice with a well-formed one', () => {
    for (const fields of [
      `<field var='muc#jid'><value>not@a@jid</value></field><field var='muc#request_allow'><value>1</value></field>`,
      `<field var='muc#jid'><value>${TYBALT}</value></field><field var='muc#request_allow'><value>maybe</value></field>`,
      `<field var='muc#jid'/><field var='muc#request_allow'><value>1</value></field>`,
      `<field var='muc#request_allow'><value>1</value></field>`,
    ]) {
      muc.receive(request(ROMEO, fields));
    }
    assert.deepEqual(muc.take(ROMEO), []);
    assert.deepEqual(muc.take(TYBALT), []);
    muc.receive(request(ROMEO, `<field var='muc#jid'><value>${TYBALT}</value></field><field var='muc#request_allow'><value>1</value></field>`));
    const [granted] = muc.take(TYBALT);
    assert.equal(granted.getChild('x', 'http://jabber.org/protocol/muc#user')?.getChild('item')?.attrs.role, 'participant');
  });
});
