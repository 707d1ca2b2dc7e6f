// Owner configuration, admin lists and room registration through the shard
// application, with their permission rules and error paths.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MucHarness, ROOM, adminSet, configSet, errorCondition, statusCodes } from './muc-harness.js';

const ROMEO = 'romeo@localhost/home';
const JULIET = 'juliet@localhost/balcony';
const NURSE = 'nurse@localhost/kitchen';

const OWNER = 'http://jabber.org/protocol/muc#owner';
const ADMIN = 'http://jabber.org/protocol/muc#admin';

describe('owner configuration', () => {
  let muc: MucHarness;
  beforeEach(async () => {
    muc = await MucHarness.withRoom([ROMEO, 'Romeo'], [JULIET, 'Juliet']);
  });
  afterEach(() => muc.close());

  it('returns the form to the owner, forbidden to others', () => {
    muc.receive(`<iq from='${ROMEO}' to='${ROOM}' type='get' id='g'><query xmlns='${OWNER}'/></iq>`);
    const form = muc.take(ROMEO)[0].getChild('query')!.getChild('x', 'jabber:x:data')!;
    const vars = form.getChildren('field').map((f) => f.attrs.var);
    for (const expected of ['FORM_TYPE', 'muc#roomconfig_roomname', 'muc#roomconfig_persistentroom', 'muc#roomconfig_membersonly', 'muc#roomconfig_whois', 'muc#roomconfig_presencebroadcast']) {
      assert.ok(vars.includes(expected), expected);
    }
    muc.receive(`<iq from='${JULIET}' to='${ROOM}' type='get' id='g2'><query xmlns='${OWNER}'/></iq>`);
    const [refused] = muc.take(JULIET);
    assert.equal(errorCondition(refused), 'forbidden');
    assert.equal(refused.getChild('error')!.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas'), 'Only owners can configure rooms');
    muc.receive(configSet(JULIET, { 'muc#roomconfig_roomname': 'Mine' }));
    assert.equal(errorCondition(muc.take(JULIET)[0]), 'forbidden');
  });

  it('applies a submitted form: the iq result, then status 104 to the room', () => {
    muc.receive(configSet(ROMEO, { 'muc#roomconfig_roomname': 'Verona' }));
    const [result, notice] = muc.take(ROMEO);
    assert.equal(result.attrs.type, 'result');
    assert.deepEqual(statusCodes(notice), ['104']);
    assert.deepEqual(statusCodes(muc.take(JULIET)[0]), ['104']);
    muc.receive(configSet(ROMEO, { 'muc#roomconfig_whois': 'anyone' }));
    assert.deepEqual(statusCodes(muc.take(ROMEO)[1]), ['172']);
  });

  it('refuses malformed forms with bad-request', () => {
    muc.receive(configSet(ROMEO, { 'muc#roomconfig_roomname': 'X' }, 'urn:example:other'));
    muc.receive(configSet(ROMEO, { 'muc#roomconfig_membersonly': 'perhaps' }));
    muc.receive(configSet(ROMEO, { 'muc#roomconfig_whois': 'everybody' }));
    muc.receive(configSet(ROMEO, { 'muc#roomconfig_historylength': 'many' }));
    muc.receive(configSet(ROMEO, { 'muc#roomconfig_presencebroadcast': ['moderator', 'king'] }));
    muc.receive(`<iq from='${ROMEO}' to='${ROOM}' type='set' id='f'><query xmlns='${OWNER}'><x xmlns='jabber:x:data' type='form'/></query></iq>`);
    muc.receive(`<iq from='${ROMEO}' to='${ROOM}' type='set' id='e'><query xmlns='${OWNER}'/></iq>`);
    assert.deepEqual(muc.take(ROMEO).map(errorCondition), Array(7).fill('bad-request'));
  });

  it('removes non-members with 322 when the room becomes members-only', () => {
    muc.receive(configSet(ROMEO, { 'muc#roomconfig_membersonly': '1' }));
    const [removed] = muc.take(JULIET);
    assert.equal(removed.attrs.type, 'unavailable');
    assert.deepEqual(statusCodes(removed), ['322', '110']);
    const [, refusal] = [muc.take(ROMEO), muc.join(JULIET, 'Juliet')[0]];
    assert.equal(errorCondition(refusal), 'registration-required');
  });

  it('destroys the room: everyone is shown leaving with <destroy/>', () => {
    muc.receive(
      `<iq from='${ROMEO}' to='${ROOM}' type='set' id='d'><query xmlns='${OWNER}'><destroy jid='elsewhere@conference.localhost'><reason>Plague</reason></destroy></query></iq>`,
    );
    const [gone] = muc.take(JULIET);
    assert.equal(gone.attrs.type, 'unavailable');
    assert.equal(gone.getChild('x')!.getChild('destroy')!.getChildText('reason'), 'Plague');
    assert.deepEqual(muc.take(ROMEO).map((s) => s.name), ['presence', 'iq']);
    assert.equal(muc.application.inspect(ROOM), undefined);
  });
});

describe('admin lists', () => {
  let muc: MucHarness;
  beforeEach(async () => {
    muc = await MucHarness.withRoom([ROMEO, 'Romeo'], [JULIET, 'Juliet']);
  });
  afterEach(() => muc.close());

  it('lets owners grant any affiliation and lists it with reserved nicknames', () => {
    muc.receive(adminSet(ROMEO, `<item affiliation='admin' jid='nurse@localhost' nick='Nurse'><reason>trusted</reason></item>`));
    const [notice, result] = muc.take(ROMEO);
    assert.equal(notice.name, 'message');
    assert.equal(notice.getChild('x')!.getChild('item')!.getChildText('reason'), 'trusted');
    assert.equal(result.attrs.type, 'result');
    muc.receive(`<iq from='${ROMEO}' to='${ROOM}' type='get' id='l'><query xmlns='${ADMIN}'><item affiliation='admin'/></query></iq>`);
    const items = muc.take(ROMEO)[0].getChild('query')!.getChildren('item');
    assert.deepEqual(items.map((i) => i.attrs), [{ affiliation: 'admin', jid: 'nurse@localhost', nick: 'Nurse' }]);
  });

  it('refuses affiliation changes beyond the actor: not-allowed; lists beyond it: forbidden', () => {
    muc.receive(adminSet(JULIET, `<item affiliation='member' jid='nurse@localhost'/>`));
    assert.equal(errorCondition(muc.take(JULIET)[0]), 'not-allowed');
    muc.receive(adminSet(ROMEO, `<item affiliation='admin' jid='nurse@localhost'/>`));
    muc.take(ROMEO);
    muc.receive(adminSet(NURSE, `<item affiliation='owner' jid='juliet@localhost'/>`));
    muc.receive(adminSet(NURSE, `<item affiliation='none' jid='romeo@localhost'/>`));
    assert.deepEqual(muc.take(NURSE).map(errorCondition), ['not-allowed', 'not-allowed']);
    muc.receive(`<iq from='${NURSE}' to='${ROOM}' type='get' id='l'><query xmlns='${ADMIN}'><item affiliation='owner'/></query></iq>`);
    muc.receive(`<iq from='${JULIET}' to='${ROOM}' type='get' id='l2'><query xmlns='${ADMIN}'><item affiliation='member'/></query></iq>`);
    assert.equal(errorCondition(muc.take(NURSE)[0]), 'forbidden');
    assert.equal(errorCondition(muc.take(JULIET)[0]), 'forbidden');
  });

  it('keeps the last owner: a sole owner cannot step down (conflict)', () => {
    muc.receive(adminSet(ROMEO, `<item affiliation='member' jid='romeo@localhost'/>`));
    assert.equal(errorCondition(muc.take(ROMEO)[0]), 'conflict');
  });

  it('refuses malformed items', () => {
    muc.receive(adminSet(ROMEO, `<item affiliation='member' jid='juliet@localhost/balcony'/>`));
    muc.receive(adminSet(ROMEO, `<item affiliation='member' jid='a b@localhost'/>`));
    muc.receive(adminSet(ROMEO, `<item affiliation='emperor' jid='juliet@localhost'/>`));
    muc.receive(adminSet(ROMEO, `<item/>`));
    muc.receive(adminSet(ROMEO, ``));
    assert.deepEqual(muc.take(ROMEO).map(errorCondition), ['jid-malformed', 'jid-malformed', 'not-acceptable', 'bad-request', 'bad-request']);
  });

  it('kicks with 307 and bans with 301', () => {
    muc.receive(adminSet(ROMEO, `<item role='none' nick='Juliet'><reason>Out</reason></item>`));
    const [kicked] = muc.take(JULIET);
    assert.deepEqual(statusCodes(kicked), ['307', '110']);
    muc.take(ROMEO);
    muc.join(JULIET, 'Juliet');
    muc.take(ROMEO);
    muc.receive(adminSet(ROMEO, `<item affiliation='outcast' jid='juliet@localhost'/>`));
    assert.deepEqual(statusCodes(muc.take(JULIET)[0]), ['301', '110']);
    assert.equal(errorCondition(muc.join(JULIET, 'Juliet')[0]), 'forbidden');
  });

  it('lets a participant not change roles', () => {
    muc.receive(adminSet(JULIET, `<item role='visitor' nick='Romeo'/>`));
    assert.equal(errorCondition(muc.take(JULIET)[0]), 'not-allowed');
  });
});

describe('room registration', () => {
  let muc: MucHarness;
  beforeEach(async () => {
    muc = await MucHarness.withRoom([ROMEO, 'Romeo']);
  });
  afterEach(() => muc.close());

  const get = (from: string) => `<iq from='${from}' to='${ROOM}' type='get' id='rg'><query xmlns='jabber:iq:register'/></iq>`;
  const submit = (from: string, nick: string, formType = 'http://jabber.org/protocol/muc#register') =>
    `<iq from='${from}' to='${ROOM}' type='set' id='rs'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>${formType}</value></field><field var='muc#register_roomnick'><value>${nick}</value></field></x></query></iq>`;

  it('refuses non-members: registration-required', () => {
    muc.receive(get(JULIET));
    muc.receive(submit(JULIET, 'Juliet'));
    assert.deepEqual(muc.take(JULIET).map(errorCondition), ['registration-required', 'registration-required']);
  });

  it('gives members the form with a required nickname, then reserves it', () => {
    muc.receive(adminSet(ROMEO, `<item affiliation='member' jid='juliet@localhost'/>`));
    muc.receive(get(JULIET));
    const field = muc.take(JULIET)[0].getChild('query')!.getChild('x')!.getChildren('field')[1];
    assert.equal(field.attrs.var, 'muc#register_roomnick');
    assert.ok(field.getChild('required'));
    muc.receive(submit(JULIET, 'Juliet'));
    assert.equal(muc.take(JULIET)[0].attrs.type, 'result');
    muc.receive(get(JULIET));
    assert.equal(muc.take(JULIET)[0].getChild('query')!.getChildText('username'), 'Juliet');
    assert.equal(errorCondition(muc.join(NURSE, 'Juliet')[0]), 'conflict');
  });

  it('refuses bad submissions', () => {
    muc.receive(adminSet(ROMEO, `<item affiliation='member' jid='juliet@localhost'/>`));
    muc.take(ROMEO);
    muc.receive(submit(JULIET, 'Juliet', 'urn:example:wrong'));
    muc.receive(submit(JULIET, ''));
    muc.receive(`<iq from='${JULIET}' to='${ROOM}' type='set' id='rx'><query xmlns='jabber:iq:register'/></iq>`);
    muc.receive(submit(JULIET, 'Romeo'));
    assert.deepEqual(muc.take(JULIET).map(errorCondition), ['bad-request', 'bad-request', 'bad-request', 'conflict']);
  });
});
