// Malformed and hostile input: every stanza gets an XMPP answer (or none, for
// errors and results), never an exception. A handler that threw would show
// as an internal-server-error reply, so there must be none.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MucHarness, ROOM, errorCondition } from './muc-harness.js';

const ROMEO = 'romeo@localhost/home';
const EVE = 'eve@localhost/x';

const HOSTILE = [
  `<presence from='${EVE}'/>`,
  `<presence from='${EVE}' to=''/>`,
  `<presence from='${EVE}' to='@conference.localhost/x'/>`,
  `<presence from='${EVE}' to='${ROOM}/'><x xmlns='http://jabber.org/protocol/muc'/></presence>`,
  `<presence from='${EVE}' to='${ROOM}/Eve' type='subscribe'/>`,
  `<presence from='${EVE}' to='${ROOM}/Eve' type='error'/>`,
  `<presence from='${EVE}' to='${ROOM}' type='unavailable'/>`,
  `<presence from='${EVE}' to='${ROOM}/Eve'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='-1' seconds='x' since='never' maxchars='1e9'/></x></presence>`,
  `<message from='${EVE}' to='${ROOM}/Romeo' type='groupchat'><body>x</body></message>`,
  `<message from='${EVE}' to='${ROOM}/Nobody' type='chat'><body>x</body></message>`,
  `<message from='${EVE}' to='${ROOM}' type='error'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`,
  `<message from='${EVE}' to='${ROOM}' type='error'/>`,
  `<message from='${EVE}' to='${ROOM}'/>`,
  `<message from='${EVE}' to='${ROOM}'><x xmlns='http://jabber.org/protocol/muc#user'/></message>`,
  `<message from='${EVE}' to='${ROOM}'><x xmlns='http://jabber.org/protocol/muc#user'><invite/></x></message>`,
  `<message from='${EVE}' to='${ROOM}' type='groupchat'><subject>mine now</subject></message>`,
  `<iq from='${EVE}' to='${ROOM}' type='get' id='1'/>`,
  `<iq from='${EVE}' to='${ROOM}' type='bogus' id='2'><query xmlns='jabber:iq:register'/></iq>`,
  `<iq from='${EVE}' to='${ROOM}' type='set' id='3'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='owner'/></query></iq>`,
  `<iq from='${EVE}' to='${ROOM}' type='set' id='4'><query xmlns='http://jabber.org/protocol/muc#admin'><item role='moderator' nick='Romeo'/></query></iq>`,
  `<iq from='${EVE}' to='${ROOM}' type='set' id='5'><query xmlns='http://jabber.org/protocol/muc#admin'><item role='king' nick='Romeo'/></query></iq>`,
  `<iq from='${EVE}' to='${ROOM}' type='get' id='6'><query xmlns='http://jabber.org/protocol/muc#admin'/></iq>`,
  `<iq from='${EVE}' to='${ROOM}' type='get' id='7'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='emperor'/></query></iq>`,
  `<iq from='${EVE}' to='${ROOM}' type='set' id='8'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'/></query></iq>`,
  `<iq from='${EVE}' to='${ROOM}' type='get' id='9'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>`,
  `<iq from='${EVE}' to='${ROOM}' type='get' id='10'><query xmlns='http://jabber.org/protocol/disco#info' node='unknown'/></iq>`,
  `<iq from='${EVE}' to='${ROOM}/Romeo' type='result' id='%%%'/>`,
  `<iq from='${EVE}' to='${ROOM}/Romeo' type='error' id=''/>`,
  `<iq from='${EVE}' to='conference.localhost' type='set' id='11'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`,
  `<iq from='${EVE}' to='conference.localhost' type='get' id='12'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
  `<message from='${EVE}' to='conference.localhost'><body>hi</body></message>`,
  `<iq from='${EVE}' to='${ROOM}' type='set' id='13'><command xmlns='http://jabber.org/protocol/commands' node='urn:xmpp:hats:commands:don'/></iq>`,
  `<iq from='${EVE}' to='${ROOM}' type='set' id='14'><command xmlns='http://jabber.org/protocol/commands'/></iq>`,
];

const OWNER_HOSTILE = [
  `<iq from='${ROMEO}' to='${ROOM}' type='set' id='o1'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field/><field var='muc#roomconfig_presencebroadcast'/><field var='muc#roomconfig_historylength'><value>-5</value></field></x></query></iq>`,
  `<iq from='${ROMEO}' to='${ROOM}' type='set' id='o2'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy jid='not a jid@@'/></query></iq>`,
  `<iq from='${ROMEO}' to='${ROOM}' type='set' id='o3'><query xmlns='http://jabber.org/protocol/muc#owner'><other/></query></iq>`,
  `<iq from='${ROMEO}' to='${ROOM}' type='set' id='o4'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' nick='&#x0221;'/></query></iq>`,
  `<iq from='${ROMEO}' to='${ROOM}' type='set' id='o5'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast' jid='localhost'/></query></iq>`,
  `<iq from='${ROMEO}' to='${ROOM}' type='set' id='o6'><query xmlns='http://jabber.org/protocol/muc#admin'><item role='none' nick='Nobody'/></query></iq>`,
  `<iq from='${ROMEO}' to='${ROOM}' type='set' id='o7'><command xmlns='http://jabber.org/protocol/commands' node='urn:xmpp:hats:commands:don'><x xmlns='jabber:x:data' type='submit'><field var='hats#jid'><value>@@</value></field></x></command></iq>`,
  `<iq from='${ROMEO}' to='${ROOM}' type='set' id='o8'><command xmlns='http://jabber.org/protocol/commands' node='urn:xmpp:hats:commands:doff'><x xmlns='jabber:x:data' type='submit'><field var='hats#jid'><value>nobody@localhost</value></field><field var='hats#hat'/></x></command></iq>`,
  `<iq from='${ROMEO}' to='${ROOM}' type='set' id='o9'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_roomsecret'/><field var='muc#roomconfig_allowpm'/><field var='muc#roomconfig_maxusers'/><field var='muc#roomconfig_whois'/><field var='muc#roomconfig_defaulthistorymessages'/></x></query></iq>`,
];

describe('hostile input', () => {
  let muc: MucHarness;

  before(async () => {
    muc = await MucHarness.withRoom([ROMEO, 'Romeo']);
  });

  after(() => muc.close());

  it('answers every malformed stanza without an internal error', () => {
    for (const xml of [...HOSTILE, ...OWNER_HOSTILE]) {
      assert.doesNotThrow(() => muc.receive(xml), xml);
    }
    const answers = [...muc.take(EVE), ...muc.take(ROMEO)];
    assert.ok(answers.length > 0);
    assert.deepEqual(
      answers.filter((s) => errorCondition(s) === 'internal-server-error').map(String),
      [],
    );
    // The room still works: the owner can speak and is heard.
    muc.receive(`<message from='${ROMEO}' to='${ROOM}' type='groupchat' id='alive'><body>still here</body></message>`);
    assert.ok(muc.take(ROMEO).some((s) => s.attrs.id === 'alive'));
  });
});
