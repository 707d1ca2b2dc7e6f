// XEP-0317 hats: kept with the affiliation, shown once in every presence the
// room gives of the wearer, never taken from what an occupant claims.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Element } from '../../src/xml/element.js';
import { adminSet, MucHarness, ROOM } from './muc-harness.js';

const ROMEO = 'romeo@localhost/home';
const JULIET = 'juliet@localhost/balcony';
const HOST = 'http://example.com/hats#host';

function hatCommand(from: string, node: 'don' | 'doff', jid: string, extra = ''): string {
  return (
    `<iq from='${from}' to='${ROOM}' type='set' id='hat'><command xmlns='http://jabber.org/protocol/commands' node='urn:xmpp:hats:commands:${node}'>` +
    `<x xmlns='jabber:x:data' type='submit'><field var='hats#jid'><value>${jid}</value></field><field var='hats#hat'><value>${HOST}</value></field>${extra}</x></command></iq>`
  );
}

function hatsOf(presence: Element): string[] {
  return presence.getChildren('hats', 'urn:xmpp:hats:0').flatMap((hats) => hats.getChildren('hat').map((hat) => `${hat.attrs.uri} ${hat.attrs.title}`));
}

function note(iq: Element): string | undefined {
  return iq.getChild('command')?.getChild('note')?.text();
}

describe('hats', () => {
  let muc: MucHarness;
  beforeEach(async () => {
    muc = await MucHarness.withRoom([ROMEO, 'Romeo'], [JULIET, 'Juliet']);
  });
  afterEach(() => muc.close());

  it('needs an affiliation to keep a hat with', () => {
    muc.receive(hatCommand(ROMEO, 'don', 'juliet@localhost', `<field var='hats#title'><value>Host</value></field>`));
    assert.equal(note(muc.take(ROMEO)[0]), 'juliet@localhost is not affiliated with the room');
  });

  it('shows a hat given by an owner, and not the ones an occupant claims', () => {
    muc.receive(adminSet(ROMEO, `<item affiliation='member' jid='juliet@localhost'/>`));
    muc.take(ROMEO);
    muc.take(JULIET);
    muc.receive(hatCommand(ROMEO, 'don', 'juliet@localhost', `<field var='hats#title'><value>Host</value></field>`));
    const [shown, done] = muc.take(ROMEO);
    assert.deepEqual(hatsOf(shown), [`${HOST} Host`]);
    assert.equal(note(done), 'Done');
    assert.deepEqual(hatsOf(muc.take(JULIET)[0]), [`${HOST} Host`]);

    muc.receive(`<presence from='${JULIET}' to='${ROOM}/Juliet'><hats xmlns='urn:xmpp:hats:0'><hat uri='x:queen' title='Queen'/></hats><hats xmlns='xmpp:prosody.im/protocol/hats:1'><hat uri='x:queen'/></hats></presence>`);
    assert.deepEqual(hatsOf(muc.take(ROMEO)[0]), [`${HOST} Host`]);
    assert.deepEqual(muc.join('nurse@localhost/n', 'Nurse').filter((p) => p.attrs.from === `${ROOM}/Juliet`).map(hatsOf), [[`${HOST} Host`]]);

    muc.receive(hatCommand(ROMEO, 'doff', 'juliet@localhost'));
    const [bare] = muc.take(ROMEO);
    assert.deepEqual(hatsOf(bare), []);
    assert.deepEqual(muc.join('tybalt@localhost/t', 'Tybalt').filter((p) => p.attrs.from === `${ROOM}/Juliet`).map(hatsOf), [[]]);
  });

  it('refuses the commands to anyone but owners', () => {
    muc.receive(hatCommand(JULIET, 'don', 'juliet@localhost'));
    assert.equal(muc.take(JULIET)[0].getChild('error')?.getChild('forbidden') !== undefined, true);
  });
});
