import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Element, el, serialize } from '../../src/xml/element.js';
import { escapeAttribute, escapeText } from '../../src/xml/escape.js';
import {
  DEFAULT_LIMITS,
  XmppStreamParser,
  parseElement,
  type StreamErrorCondition,
  type StreamLimits,
} from '../../src/xml/stream-parser.js';

describe('Element', () => {
  it('builds and serializes with single-quoted attributes, dropping undefined ones', () => {
    const message = el('message', { to: 'room@conference.localhost', type: 'groupchat', id: undefined }, el('body', {}, 'hi'));
    assert.equal(message.toString(), "<message to='room@conference.localhost' type='groupchat'><body>hi</body></message>");
    assert.equal(serialize(el('presence')), '<presence/>');
  });

  it('navigates children by name and namespace', () => {
    const presence = el(
      'presence',
      {},
      el('x', { xmlns: 'http://jabber.org/protocol/muc#user' }, el('item', { role: 'moderator' }), el('status', { code: '110' })),
      el('x', { xmlns: 'vcard-temp:x:update' }),
      'text',
    );
    const mucUser = presence.getChild('x', 'http://jabber.org/protocol/muc#user');
    assert.ok(mucUser);
    assert.equal(mucUser.getChild('item')?.attr('role'), 'moderator');
    assert.equal(presence.getChildren('x').length, 2);
    assert.equal(presence.getChildByNs('vcard-temp:x:update')?.name, 'x');
    assert.equal(presence.elements().length, 2);
    assert.equal(presence.text(), 'text');
    assert.equal(presence.getChild('x', 'nope'), undefined);
  });

  it('chains c/setAttr/append/removeChildren', () => {
    const iq = el('iq', { type: 'set' });
    iq.c('query', { xmlns: 'jabber:iq:register' }).c('username').append('romeo');
    iq.setAttr('id', '1').setAttr('type', undefined);
    assert.equal(iq.toString(), "<iq id='1'><query xmlns='jabber:iq:register'><username>romeo</username></query></iq>");
    iq.removeChildren('query', 'jabber:iq:register');
    assert.equal(iq.toString(), "<iq id='1'/>");
  });

  it('clones deeply', () => {
    const original = el('a', { x: '1' }, el('b', {}, 'text'));
    const copy = original.clone();
    copy.getChild('b')!.children.push('more');
    copy.setAttr('x', '2');
    assert.equal(original.toString(), "<a x='1'><b>text</b></a>");
    assert.equal(copy.toString(), "<a x='2'><b>textmore</b></a>");
  });

  it('revives a structured clone', () => {
    const cloned = structuredClone(el('a', {}, el('b', { y: '2' }), 'text')) as Element;
    assert.equal(typeof (cloned as Partial<Element>).toString, 'function');
    const revived = Element.revive(cloned);
    assert.ok(revived instanceof Element);
    assert.equal(revived.getChild('b')?.attr('y'), '2');
    assert.equal(revived.toString(), "<a><b y='2'/>text</a>");
  });
});

describe('escaping', () => {
  it('escapes text and attributes', () => {
    assert.equal(escapeText('plain'), 'plain');
    assert.equal(escapeText('a & b < c > d'), 'a &amp; b &lt; c &gt; d');
    assert.equal(escapeText(`"quotes' stay"`), `"quotes' stay"`);
    assert.equal(escapeText('a\r\nb'), 'a&#13;\nb');
    assert.equal(escapeAttribute(`it's "x" & <y>`), 'it&apos;s &quot;x&quot; &amp; &lt;y&gt;');
    assert.equal(escapeAttribute('a\tb\nc\rd'), 'a&#9;b&#10;c&#13;d');
  });

  it('round-trips attribute values through serialize and parseElement', () => {
    const values = [`it's`, `"double"`, `'&'<>`, 'tab\there', 'line\nbreak', 'cr\r\nlf', '  spaces  ', '&amp; literally', 'é😀'];
    for (const value of values) {
      const parsed = parseElement(el('a', { v: value }).toString());
      assert.equal(parsed.attr('v'), value, JSON.stringify(value));
    }
  });

  it('round-trips text through serialize and parseElement', () => {
    const texts = ['a & b', '<tag>', ']]>', `'"`, 'line\nbreak', 'cr\r\nlf', 'lone\rcr', 'é😀'];
    for (const text of texts) {
      const parsed = parseElement(el('body', {}, text).toString());
      assert.equal(parsed.text(), text, JSON.stringify(text));
    }
  });
});

describe('parseElement', () => {
  it('parses attributes, nested children, entities and CDATA', () => {
    const message = parseElement(
      "<message xmlns='jabber:client' to='r@c/n'><body>a &amp; b &#x41;<![CDATA[<raw>]]></body><x xmlns='urn:x'/></message>",
    );
    assert.equal(message.name, 'message');
    assert.equal(message.xmlns, 'jabber:client');
    assert.equal(message.attr('to'), 'r@c/n');
    assert.equal(message.getChildText('body'), 'a & b A<raw>');
    assert.ok(message.getChild('x', 'urn:x'));
  });

  it('keeps prefixed names and namespace declarations as written', () => {
    const header = parseElement(
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'/>",
    );
    assert.equal(header.name, 'stream:stream');
    assert.equal(header.attr('xmlns:stream'), 'http://etherx.jabber.org/streams');
  });

  it('refuses malformed input', () => {
    assert.throws(() => parseElement('<a><b></a>'));
    assert.throws(() => parseElement('<a/><b/>'));
    assert.throws(() => parseElement('text<a/>'));
    assert.throws(() => parseElement('<a>&undefined;</a>'));
    assert.throws(() => parseElement(''));
  });
});

const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

/** Drives a stream parser and records what it reports, in order. */
class Recorder {
  readonly events: string[] = [];
  readonly stanzas: Element[] = [];
  readonly errors: { condition: StreamErrorCondition; text: string }[] = [];
  readonly parser: XmppStreamParser;

  constructor(limits?: StreamLimits) {
    this.parser = new XmppStreamParser(
      {
        streamStart: (header) => this.events.push('start:' + header.name),
        stanza: (stanza) => {
          this.stanzas.push(stanza);
          this.events.push('stanza:' + stanza.name);
        },
        streamEnd: () => this.events.push('end'),
        error: (condition, text) => {
          this.errors.push({ condition, text });
          this.events.push('error:' + condition);
        },
      },
      limits,
    );
  }

  write(...chunks: (string | Buffer)[]): this {
    for (const chunk of chunks) this.parser.write(chunk);
    return this;
  }
}

const SMALL: StreamLimits = { maxStanzaSize: 200, maxDepth: 4, maxAttributes: 5 };

describe('XmppStreamParser', () => {
  it('reports the header, each stanza and the end of the stream', () => {
    const recorder = new Recorder().write(
      HEADER,
      "<message to='a@b'><body>hi</body></message>",
      '\n ',
      "<presence/><iq type='get' id='1'><query xmlns='jabber:iq:version'/></iq>",
      '</stream:stream>',
    );
    assert.deepEqual(recorder.events, ['start:stream:stream', 'stanza:message', 'stanza:presence', 'stanza:iq', 'end']);
    assert.equal(recorder.stanzas[0]!.toString(), "<message to='a@b'><body>hi</body></message>");
    assert.equal(recorder.stanzas[2]!.toString(), "<iq type='get' id='1'><query xmlns='jabber:iq:version'/></iq>");
    assert.equal(recorder.parser.hasFailed, false);
  });

  it('keeps self-closing children inside their stanza', () => {
    const recorder = new Recorder().write(HEADER, "<presence><x xmlns='http://jabber.org/protocol/muc'/><status>here</status></presence>");
    assert.deepEqual(recorder.events, ['start:stream:stream', 'stanza:presence']);
    assert.equal(recorder.stanzas[0]!.getChildText('status'), 'here');
  });

  it('assembles stanzas split at any byte, including inside a UTF-8 character', () => {
    const bytes = Buffer.from(HEADER + "<message><body>é€😀 'x'</body></message>");
    const emoji = bytes.indexOf(0xf0);
    for (const cut of [emoji + 1, emoji + 2, emoji + 3, bytes.indexOf(0xe2) + 1]) {
      const recorder = new Recorder().write(bytes.subarray(0, cut), bytes.subarray(cut));
      assert.deepEqual(recorder.errors, [], `cut at ${cut}`);
      assert.equal(recorder.stanzas[0]!.getChildText('body'), "é€😀 'x'");
    }
    const byteByByte = new Recorder();
    for (let i = 0; i < bytes.length; i++) byteByByte.write(bytes.subarray(i, i + 1));
    assert.equal(byteByByte.stanzas[0]!.getChildText('body'), "é€😀 'x'");
  });

  it('refuses invalid UTF-8', () => {
    const recorder = new Recorder().write(Buffer.from(HEADER), Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0x3c, 0x2f, 0x61, 0x3e]));
    assert.deepEqual(recorder.events, ['start:stream:stream', 'error:not-well-formed']);
    const overlong = new Recorder().write(Buffer.from(HEADER), Buffer.from([0x3c, 0x61, 0x3e, 0xc0, 0xaf, 0x3c, 0x2f, 0x61, 0x3e]));
    assert.deepEqual(overlong.events, ['start:stream:stream', 'error:not-well-formed']);
  });

  it('refuses an oversized stanza that arrives in pieces', () => {
    const recorder = new Recorder(SMALL).write(HEADER, '<message><body>');
    for (let i = 0; i < 10 && !recorder.parser.hasFailed; i++) recorder.write('x'.repeat(50));
    recorder.write('</body></message>');
    assert.deepEqual(recorder.events, ['start:stream:stream', 'error:policy-violation']);
  });

  it('refuses an oversized stanza that arrives whole in one chunk', () => {
    const recorder = new Recorder(SMALL).write(HEADER + '<message><body>' + 'x'.repeat(300) + '</body></message>');
    assert.deepEqual(recorder.events, ['start:stream:stream', 'error:policy-violation']);
  });

  it('refuses an unterminated tag that grows past the limit', () => {
    const recorder = new Recorder(SMALL).write(HEADER, "<message to='");
    for (let i = 0; i < 10; i++) recorder.write('a'.repeat(50));
    assert.deepEqual(recorder.events, ['start:stream:stream', 'error:policy-violation']);
  });

  it('counts the size budget from the end of the previous stanza', () => {
    const stanza = '<message><body>' + 'x'.repeat(150) + '</body></message>';
    const recorder = new Recorder(SMALL).write(HEADER);
    for (let i = 0; i < 5; i++) recorder.write(stanza, ' ');
    recorder.write(stanza + stanza + stanza);
    assert.deepEqual(recorder.errors, []);
    assert.equal(recorder.stanzas.length, 8);
    // The rest of one stanza plus the start of the next is still one stanza's budget.
    const split = new Recorder(SMALL).write(HEADER, stanza.slice(0, 100), stanza.slice(100) + stanza.slice(0, 100));
    split.write(stanza.slice(100));
    assert.deepEqual(split.errors, []);
    assert.equal(split.stanzas.length, 2);
  });

  it('refuses an oversized stream header', () => {
    const recorder = new Recorder(SMALL).write(HEADER.slice(0, -1), " junk='", 'a'.repeat(300), "'>");
    assert.deepEqual(recorder.events, ['error:policy-violation']);
  });

  it('refuses a stanza nested too deep', () => {
    const fits = new Recorder(SMALL).write(HEADER, '<a><b><c><d/></c></b></a>');
    assert.deepEqual(fits.events, ['start:stream:stream', 'stanza:a']);
    const tooDeep = new Recorder(SMALL).write(HEADER, '<a><b><c><d><e/></d></c></b></a>');
    assert.deepEqual(tooDeep.events, ['start:stream:stream', 'error:policy-violation']);
    const unclosed = new Recorder().write(HEADER, '<x>'.repeat(DEFAULT_LIMITS.maxDepth + 1));
    assert.deepEqual(unclosed.events, ['start:stream:stream', 'error:policy-violation']);
  });

  it('refuses an element with too many attributes', () => {
    const fits = new Recorder(SMALL).write(HEADER, "<a a1='' a2='' a3='' a4='' a5=''/>");
    assert.deepEqual(fits.events, ['start:stream:stream', 'stanza:a']);
    const tooMany = new Recorder(SMALL).write(HEADER, "<a><b a1='' a2='' a3='' a4='' a5='' a6=''/></a>");
    assert.deepEqual(tooMany.events, ['start:stream:stream', 'error:policy-violation']);
  });

  it('refuses a DTD, so entity declarations (billion laughs) never expand', () => {
    const lol = "<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>";
    const recorder = new Recorder().write(
      `<?xml version='1.0'?><!DOCTYPE stream:stream [${lol}]>` + HEADER.slice(HEADER.indexOf('<stream')) + '<message>&lol2;</message>',
    );
    assert.deepEqual(recorder.events, ['error:restricted-xml']);
    assert.equal(recorder.stanzas.length, 0);
  });

  it('refuses entity references beyond the predefined ones', () => {
    const recorder = new Recorder().write(HEADER, '<message><body>&lol;</body></message>');
    assert.deepEqual(recorder.events, ['start:stream:stream', 'error:not-well-formed']);
  });

  it('refuses comments and processing instructions', () => {
    for (const hostile of ['<!-- hidden -->', '<message><!-- hidden --></message>', "<?php echo 'x' ?>", '<a><?pi?></a>']) {
      const recorder = new Recorder().write(HEADER, hostile);
      assert.deepEqual(recorder.events, ['start:stream:stream', 'error:restricted-xml'], hostile);
    }
  });

  it('refuses text at stream level but allows whitespace', () => {
    const whitespace = new Recorder().write(HEADER, ' \n\t', '<presence/>', '\r\n');
    assert.deepEqual(whitespace.events, ['start:stream:stream', 'stanza:presence']);
    const text = new Recorder().write(HEADER, 'hello', '<presence/>');
    assert.deepEqual(text.events, ['start:stream:stream', 'error:not-well-formed']);
  });

  it('refuses a stream header in the wrong namespace or with the wrong name', () => {
    const wrongNs = new Recorder().write("<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong'>");
    assert.deepEqual(wrongNs.events, ['error:invalid-namespace']);
    const undeclared = new Recorder().write("<stream:stream xmlns='jabber:client'>");
    assert.deepEqual(undeclared.events, ['error:invalid-namespace']);
    const notStream = new Recorder().write("<message xmlns='jabber:client'/>");
    assert.deepEqual(notStream.events, ['error:bad-format']);
  });

  it('reports only the first error and ignores input after it', () => {
    const recorder = new Recorder().write(HEADER, '<!-- a -->', '<presence/>', '<!-- b -->');
    assert.deepEqual(recorder.events, ['start:stream:stream', 'error:restricted-xml']);
    assert.equal(recorder.parser.hasFailed, true);
  });

  it('refuses a second root after the stream closed', () => {
    const recorder = new Recorder().write(HEADER, '</stream:stream>', '<presence/>');
    assert.deepEqual(recorder.events, ['start:stream:stream', 'end', 'error:not-well-formed']);
  });

  it('accepts a new stream header after restart', () => {
    const recorder = new Recorder().write(HEADER, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    recorder.parser.restart();
    recorder.write(HEADER, "<iq type='set' id='bind'/>");
    assert.deepEqual(recorder.events, ['start:stream:stream', 'stanza:auth', 'start:stream:stream', 'stanza:iq']);
  });

  it('starts the size budget afresh after restart', () => {
    const recorder = new Recorder(SMALL).write(HEADER, '<message><body>' + 'x'.repeat(120));
    recorder.parser.restart();
    recorder.write(HEADER, '<message><body>' + 'x'.repeat(120) + '</body></message>');
    assert.deepEqual(recorder.errors, []);
    assert.equal(recorder.stanzas.length, 1);
  });

  it('applies limits changed with setLimits', () => {
    const stanza = '<message><body>' + 'x'.repeat(300) + '</body></message>';
    const recorder = new Recorder(SMALL).write(HEADER);
    recorder.parser.setLimits({ ...SMALL, maxStanzaSize: 1000 });
    recorder.write(stanza);
    assert.equal(recorder.stanzas.length, 1);
    recorder.parser.setLimits(SMALL);
    recorder.write(stanza);
    assert.deepEqual(recorder.events, ['start:stream:stream', 'stanza:message', 'error:policy-violation']);
  });
});
