// The bounds on what a user can set or grow in a room (README "Limits"):
// history length and size, subject and nickname lengths, the occupant
// ceiling, and the shedding of a shard over its heap budget.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MucHarness, ROOM, configSet, errorCondition } from './muc-harness.js';

const ROMEO = 'romeo@localhost/home';
const JULIET = 'juliet@localhost/balcony';
const NURSE = 'nurse@localhost/kitchen';
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

function errorText(stanza: { getChild(name: string): { getChildText(name: string, xmlns: string): string | undefined } | undefined }): string | undefined {
  return stanza.getChild('error')?.getChildText('text', STANZAS);
}

function groupchat(from: string, body: string): string {
  return `<message from='${from}' to='${ROOM}' type='groupchat'><body>${body}</body></message>`;
}

/** Submits one config field from the owner Romeo and checks that the form is refused naming that field. */
function assertFieldRefused(muc: MucHarness, field: string, value: string): void {
  muc.receive(configSet(ROMEO, { [field]: value }));
  const [refused] = muc.take(ROMEO);
  assert.equal(errorCondition(refused), 'bad-request');
  assert.match(errorText(refused) ?? '', new RegExp(`^${field}: Value out of range`));
}

describe('room limits', () => {
  it('refuses a history length over muc.max_history_length with a form error naming the field', async () => {
    const muc = await MucHarness.start({ max_history_length: 50 });
    muc.createRoom(ROMEO, 'Romeo');
    assertFieldRefused(muc, 'muc#roomconfig_historylength', '1000000000');
    muc.receive(configSet(ROMEO, { 'muc#roomconfig_historylength': '50' }));
    assert.equal(muc.take(ROMEO)[0].attrs.type, 'result');
    await muc.close();
  });

  it('keeps the history within its length and its byte cap, and offers the range in the form', async () => {
    const muc = await MucHarness.start({ history_length: 3, max_history_length: 5, max_history_chars: 2000 });
    muc.createRoom(ROMEO, 'Romeo');
    muc.receive(`<iq from='${ROMEO}' to='${ROOM}' type='get' id='g'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`);
    const field = muc.take(ROMEO)[0].getChild('query')!.getChild('x', 'jabber:x:data')!.getChildren('field').find((f) => f.attrs.var === 'muc#roomconfig_historylength')!;
    assert.equal(field.getChildText('value'), '3');
    assert.deepEqual(field.getChild('validate', 'http://jabber.org/protocol/xdata-validate')?.getChild('range')?.attrs, { min: '0', max: '5' });

    for (let i = 0; i < 6; i++) muc.receive(groupchat(ROMEO, `m${i}`));
    const bodies = () => muc.join(JULIET, 'Juliet').filter((s) => s.name === 'message' && s.getChild('body')).map((s) => s.getChildText('body'));
    assert.deepEqual(bodies(), ['m3', 'm4', 'm5']);
    muc.receive(`<presence from='${JULIET}' to='${ROOM}/Juliet' type='unavailable'/>`);
    // Two big messages do not fit in 2000 bytes together; one bigger than the cap is not kept at all.
    muc.receive(groupchat(ROMEO, 'a'.repeat(900)));
    muc.receive(groupchat(ROMEO, 'b'.repeat(900)));
    muc.receive(groupchat(ROMEO, 'c'.repeat(3000)));
    assert.deepEqual(bodies(), ['b'.repeat(900)]);
    await muc.close();
  });

  it('refuses a subject or a nickname over its length with not-acceptable', async () => {
    const muc = await MucHarness.start({ max_subject_length: 10, max_nick_length: 8 });
    muc.createRoom(ROMEO, 'Romeo');
    muc.receive(`<message from='${ROMEO}' to='${ROOM}' type='groupchat'><subject>${'s'.repeat(11)}</subject></message>`);
    const [refused] = muc.take(ROMEO);
    assert.equal(errorCondition(refused), 'not-acceptable');
    assert.equal(errorText(refused), 'Subjects are limited to 10 characters');
    muc.receive(`<message from='${ROMEO}' to='${ROOM}' type='groupchat'><subject>${'s'.repeat(10)}</subject></message>`);
    assert.equal(muc.take(ROMEO)[0].getChildText('subject'), 's'.repeat(10));

    const [tooLong] = muc.join(JULIET, 'Juliet123');
    assert.equal(errorCondition(tooLong), 'not-acceptable');
    muc.join(JULIET, 'Juliet12');
    muc.receive(`<presence from='${JULIET}' to='${ROOM}/Juliet123'/>`);
    assert.equal(errorCondition(muc.take(JULIET)[0]), 'not-acceptable');
    await muc.close();
  });

  it('caps muc#roomconfig_maxusers at muc.max_occupants, and no one joins beyond it', async () => {
    const muc = await MucHarness.start({ max_occupants: 2 });
    muc.createRoom(ROMEO, 'Romeo');
    assertFieldRefused(muc, 'muc#roomconfig_maxusers', '3');
    muc.join(JULIET, 'Juliet');
    // Not even an owner gets past the ceiling.
    muc.receive(`<iq from='${ROMEO}' to='${ROOM}' type='set' id='own'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='owner' jid='nurse@localhost'/></query></iq>`);
    muc.take(ROMEO);
    const [full] = muc.join(NURSE, 'Nurse');
    assert.equal(errorCondition(full), 'service-unavailable');
    await muc.close();
  });

  it('refuses a room beyond muc.max_rooms with resource-constraint, beyond muc.max_rooms_per_user with policy-violation', async () => {
    const muc = await MucHarness.start({ max_rooms: 2, max_rooms_per_user: 1, admins: ['admin@localhost'] });
    const room = (name: string) => `${name}@conference.localhost`;
    muc.createRoom(ROMEO, 'Romeo', room('one'));
    const [mine] = muc.join(ROMEO, 'Romeo', room('two'));
    assert.equal(errorCondition(mine), 'policy-violation');
    // The service's admins own every room: the per-user cap is not theirs.
    muc.createRoom('admin@localhost/desk', 'Admin', room('two'));
    const [full] = muc.join(JULIET, 'Juliet', room('three'));
    assert.equal(errorCondition(full), 'resource-constraint');
    // A room that ends makes room for another.
    muc.receive(`<presence from='${ROMEO}' to='${room('one')}/Romeo' type='unavailable'/>`);
    assert.equal(muc.join(JULIET, 'Juliet', room('three')).some((s) => s.attrs.type === 'error'), false);
    await muc.close();
  });

  it('over its heap budget, a shard refuses new rooms with resource-constraint', async () => {
    const muc = await MucHarness.start({ heap_budget_mb: 1 });
    const [refused] = muc.join(ROMEO, 'Romeo');
    assert.equal(refused.name, 'presence');
    assert.equal(errorCondition(refused), 'resource-constraint');
    await muc.close();
  });
});
