import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchStanza, type Captures } from '../../src/scansion/matcher.js';
import { substituteVariables } from '../../src/scansion/script.js';
import { parseElement } from '../../src/xml/stream-parser.js';

/** Asserts a match and returns what it captured. */
function matches(expected: string, received: string): Captures {
  const result = matchStanza(parseElement(expected), parseElement(received));
  assert.ok(result.ok, `expected\n  ${expected}\nto match\n  ${received}\n${result.ok ? '' : result.reason}`);
  return result.captures;
}

/** Asserts a mismatch whose reason matches `reason` (which should name the path). */
function differs(expected: string, received: string, reason: RegExp): void {
  const result = matchStanza(parseElement(expected), parseElement(received));
  assert.equal(result.ok, false, `expected\n  ${expected}\nnot to match\n  ${received}`);
  assert.ok(!result.ok);
  assert.match(result.reason, reason);
}

const MUC_USER = 'http://jabber.org/protocol/muc#user';

describe('scansion matcher: non-strict elements', () => {
  it('allows extra attributes, requires the expected ones with equal values', () => {
    matches(`<message type='chat'/>`, `<message type='chat' id='1' from='a@b'/>`);
    differs(`<message type='chat' id='1'/>`, `<message type='chat'/>`, /^\/message: missing attribute id='1'/);
    differs(`<message type='chat'/>`, `<message type='groupchat'/>`, /^\/message: attribute type is 'groupchat'/);
  });

  it('compares element names', () => {
    differs(`<message/>`, `<presence/>`, /^\/message: expected element \{jabber:client\}message/);
  });

  it('allows extra children in any order', () => {
    matches(`<message><b/><a/></message>`, `<message><a/><c/><b/></message>`);
    differs(`<message><a/><d/></message>`, `<message><a/><b/></message>`, /^\/message\/d: missing child/);
  });

  it('gives each expected child its own received child', () => {
    matches(`<message><a/><a/></message>`, `<message><a/><a/></message>`);
    differs(`<message><a/><a/></message>`, `<message><a/></message>`, /\/message\/a: .*needed by another/);
    // A greedy matcher would give the first expected <a/> the received <a x='1'/>.
    matches(`<message><a/><a x='1'/></message>`, `<message><a x='1'/><a/></message>`);
  });

  it("reports the mismatch inside the child the script most likely meant", () => {
    differs(
      `<message><body>hi</body></message>`,
      `<message><body>bye</body></message>`,
      /^\/message\/body: text is 'bye', expected 'hi'/,
    );
  });
});

describe('scansion matcher: strict elements', () => {
  const strict = (inner: string) => `<iq><query xmlns='q'>${inner}</query></iq>`;

  it('treats an element that declares its namespace as strict: attributes both ways', () => {
    matches(`<iq><query xmlns='q' node='n'/></iq>`, `<iq><query xmlns='q' node='n'/></iq>`);
    differs(`<iq><query xmlns='q'/></iq>`, `<iq><query xmlns='q' node='n'/></iq>`, /^\/iq\/query: unexpected attribute node='n'/);
    differs(`<iq><query xmlns='q' node='n'/></iq>`, `<iq><query xmlns='q'/></iq>`, /missing attribute node/);
  });

  it('requires the same children, no extras, same order', () => {
    matches(strict('<a/><b/>'), strict('<a/><b/>'));
    differs(strict('<a/><b/>'), strict('<b/><a/>'), /^\/iq\/query\/a: expected element \{q\}a, got \{q\}b/);
    differs(strict('<a/>'), strict('<a/><b/>'), /^\/iq\/query: expected 1 child elements \(a\), got 2 \(a, b\)/);
    differs(strict('<a/><b/>'), strict('<a/>'), /expected 2 child elements/);
  });

  it('compares the text of strict elements, trimmed', () => {
    matches(strict('<a>\n  x  \n</a>'), strict('<a>x</a>'));
    differs(strict('<a/>'), strict('<a>x</a>'), /^\/iq\/query\/a: text is 'x', expected ''/);
    matches(strict('\n\t<a/>\n'), strict('<a/>'));
  });

  it('inherits strictness down to descendants', () => {
    differs(strict('<a><b/></a>'), strict('<a><b/><c/></a>'), /^\/iq\/query\/a: expected 1 child/);
    differs(strict('<a><b/></a>'), strict('<a><b x="1"/></a>'), /^\/iq\/query\/a\/b: unexpected attribute x/);
  });

  it('lets scansion:strict override in both directions', () => {
    matches(`<iq><query xmlns='q' scansion:strict='false'/></iq>`, `<iq><query xmlns='q' node='n'><a/></query></iq>`);
    differs(`<iq scansion:strict='true' type='result'/>`, `<iq type='result' id='1'/>`, /^\/iq: unexpected attribute id/);
    // Inside a strict element, a non-strict child allows extras; its own children are then non-strict too.
    matches(strict(`<a scansion:strict='false'><b/></a>`), strict(`<a x='1'><c/><b y='2'/></a>`));
    differs(strict(`<a scansion:strict='false'/>`), strict(`<a/><b/>`), /expected 1 child/);
    differs(`<iq scansion:strict='maybe'/>`, `<iq/>`, /must be 'true' or 'false'/);
  });

  it('does not count scansion: attributes or namespace declarations as attributes', () => {
    matches(`<iq><query xmlns='q' scansion:strict='true'/></iq>`, `<iq><query xmlns='q'/></iq>`);
    matches(`<iq><query xmlns='q' xmlns:x='urn:x'/></iq>`, `<iq><query xmlns='q'/></iq>`);
  });
});

describe('scansion matcher: namespaces', () => {
  it('takes a received child without xmlns to be in its parent namespace', () => {
    matches(
      `<presence><x xmlns='${MUC_USER}'><item xmlns='${MUC_USER}' role='moderator'/></x></presence>`,
      `<presence><x xmlns='${MUC_USER}'><item role='moderator'/></x></presence>`,
    );
    matches(
      `<presence><x xmlns='${MUC_USER}'><item role='moderator'/></x></presence>`,
      `<presence><x xmlns='${MUC_USER}'><item xmlns='${MUC_USER}' role='moderator'/></x></presence>`,
    );
  });

  it('rejects a child in another namespace', () => {
    differs(
      `<presence><x xmlns='${MUC_USER}'><item xmlns='urn:other'/></x></presence>`,
      `<presence><x xmlns='${MUC_USER}'><item/></x></presence>`,
      /^\/presence\/x\/item: expected element \{urn:other\}item, got \{http:\/\/jabber.org\/protocol\/muc#user\}item/,
    );
    differs(`<message><x xmlns='a'/></message>`, `<message><x xmlns='b'/></message>`, /missing child|\{a\}x/);
  });

  it('puts unqualified stanzas and their plain children in jabber:client', () => {
    matches(`<message xmlns='jabber:client'><body/></message>`, `<message><body/></message>`);
    differs(`<message><body/></message>`, `<message><body xmlns='urn:x'/></message>`, /missing child|\{jabber:client\}body/);
  });

  it('resolves prefixes', () => {
    matches(`<iq><q:query xmlns:q='urn:q'/></iq>`, `<iq><query xmlns='urn:q'/></iq>`);
  });
});

describe('scansion matcher: {scansion:any}', () => {
  it('matches any value of a present attribute only', () => {
    matches(`<message id='{scansion:any}'/>`, `<message id='abc'/>`);
    differs(`<message id='{scansion:any}'/>`, `<message/>`, /missing attribute id/);
    matches(`<iq><query xmlns='q' ver='{scansion:any}'/></iq>`, `<iq><query xmlns='q' ver='v1'/></iq>`);
    differs(`<iq><query xmlns='q' ver='{scansion:any}'/></iq>`, `<iq><query xmlns='q'/></iq>`, /missing attribute ver/);
  });
});

describe('scansion matcher: text', () => {
  it('ignores received text where a non-strict script wrote none', () => {
    matches(`<message><body/></message>`, `<message><body>anything</body></message>`);
    matches(`<message>\n\t<body/>\n</message>`, `<message><body/></message>`);
  });

  it('compares trimmed text where the script wrote some', () => {
    matches(`<message><body>\n  Hello  \n</body></message>`, `<message><body>Hello</body></message>`);
    differs(`<message><body>Hello</body></message>`, `<message><body>Bye</body></message>`, /text is 'Bye'/);
    differs(`<message><body>Hello</body></message>`, `<message><body/></message>`, /text is ''/);
  });
});

describe('scansion matcher: captures', () => {
  it('matches any value of a captured attribute and records it', () => {
    const captures = matches(
      `<iq id='{scansion:capture:query}' type='result'/>`,
      `<iq id='q&amp;1' type='result' from='a@b'/>`,
    );
    assert.deepEqual([...captures], [['query', 'q&1']]);
    differs(`<iq id='{scansion:capture:query}'/>`, `<iq/>`, /missing attribute id/);
  });

  it('records captures only from the children the match chose, and none on a mismatch', () => {
    // The first <item/> cannot match the role='moderator' child, so the capture comes from the second.
    const captures = matches(
      `<x><item role='moderator' nick='{scansion:capture:nick}'/></x>`,
      `<x><item role='visitor' nick='Juliet'/><item role='moderator' nick='Romeo'/></x>`,
    );
    assert.deepEqual([...captures], [['nick', 'Romeo']]);
    const mismatch = matchStanza(
      parseElement(`<x id='{scansion:capture:id}'><item role='owner'/></x>`),
      parseElement(`<x id='1'><item role='visitor'/></x>`),
    );
    assert.equal(mismatch.ok, false);
  });
});

describe('scansion matcher: variables and seed cases', () => {
  const jids = { full: 'user2@localhost/res1', bare: 'user2@localhost' };
  const substituted = (text: string) =>
    substituteVariables(text, (variable) => (variable.kind === 'capture' ? assert.fail() : jids[variable.kind]));

  it('matches after variable substitution', () => {
    const expected = substituted(`<presence><x xmlns='${MUC_USER}'><item jid="\${Juliet's full JID}"/></x></presence>`);
    matches(expected, `<presence><x xmlns='${MUC_USER}'><item jid='user2@localhost/res1'/></x></presence>`);
    differs(expected, `<presence><x xmlns='${MUC_USER}'><item jid='user2@localhost/other'/></x></presence>`, /jid/);
  });

  it('show_offline: a strict empty query fails against a query with children', () => {
    const expected = `<iq type='result' from='room@conference.localhost' id='getnick1'>
		<query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item' scansion:strict='true' />
	</iq>`;
    const empty = `<iq type='result' from='room@conference.localhost' id='getnick1' to='user@localhost/r'>
      <query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>`;
    const withIdentity = `<iq type='result' from='room@conference.localhost' id='getnick1'>
      <query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'>
        <identity category='conference' name='Romeo' type='text'/></query></iq>`;
    matches(expected, empty);
    differs(expected, withIdentity, /^\/iq\/query: expected 0 child elements/);
  });

  it('show_offline: a strict muc#user x rejects an extra status code', () => {
    const expected = substituted(`<message from='room@conference.localhost'>
		<x xmlns='${MUC_USER}' scansion:strict='true'>
			<item jid="\${Juliet's JID}" affiliation='none' />
		</x>
	</message>`);
    matches(expected, `<message from='room@conference.localhost' to='user@localhost/r'><x xmlns='${MUC_USER}'><item jid='user2@localhost' affiliation='none'/></x></message>`);
    differs(
      expected,
      `<message from='room@conference.localhost'><x xmlns='${MUC_USER}'><item jid='user2@localhost' affiliation='none' role='none'/></x></message>`,
      /\/message\/x\/item: unexpected attribute role='none'/,
    );
  });

  it('a join presence: muc#user x is strict, so status codes and item must all be there in order', () => {
    const expected = substituted(`<presence from='room@conference.localhost/Romeo'>
		<x xmlns='${MUC_USER}'>
			<status code='201'/>
			<item jid="\${Romeo's full JID}" affiliation='owner' role='moderator'/>
			<status code='110'/>
		</x>
	</presence>`);
    const received = (inner: string) =>
      `<presence from='room@conference.localhost/Romeo' to='user2@localhost/res1'><x xmlns='${MUC_USER}'>${inner}</x></presence>`;
    const item = `<item jid='user2@localhost/res1' affiliation='owner' role='moderator'/>`;
    matches(expected, received(`<status code='201'/>${item}<status code='110'/>`));
    differs(expected, received(`${item}<status code='201'/><status code='110'/>`), /\/presence\/x\/status: expected element/);
    differs(expected, received(`<status code='201'/>${item}`), /expected 3 child elements/);
  });

  it('a bare expected presence matches a full join presence', () => {
    matches(
      `<presence from="room@conference.localhost/Romeo" />`,
      `<presence from='room@conference.localhost/Romeo'><x xmlns='${MUC_USER}'><item role='moderator'/></x></presence>`,
    );
  });
});
