import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse as xmppJsParse } from '@xmpp/jid';
import { bareJid, formatJid, jidDomain, jidResource, parseJid, prepJid, prepNickname } from '../../src/jid/jid.js';
import { nameprep, nodeprep, resourceprep } from '../../src/jid/stringprep.js';

describe('nodeprep', () => {
  it('folds case, including the B.2 mappings beyond ASCII', () => {
    assert.equal(nodeprep('Juliet'), 'juliet');
    assert.equal(nodeprep('Straße'), 'strasse');
    assert.equal(nodeprep('ΣΑΠΦΩ'), 'σαπφω');
    assert.equal(nodeprep('İstanbul'), 'i\u0307stanbul');
    assert.equal(nodeprep('\u2126'), 'ω'); // OHM SIGN
    assert.equal(nodeprep('\u2102'), 'c'); // DOUBLE-STRUCK CAPITAL C
    assert.equal(nodeprep('\u3371'), 'hpa'); // SQUARE HPA
    assert.equal(nodeprep('ＲＯＭＥＯ'), 'romeo'); // fullwidth
    assert.equal(nodeprep('ÉCOLE'), 'école');
    assert.equal(nodeprep('E\u0301cole'), 'école'); // composed by NFKC
  });

  it('drops the B.1 characters', () => {
    assert.equal(nodeprep('ro\u00admeo'), 'romeo'); // soft hyphen
    assert.equal(nodeprep('ro\u200bmeo\ufeff'), 'romeo'); // zero width space, BOM
  });

  it('refuses the characters XMPP reserves in local parts', () => {
    for (const char of `"&'/:<>@`) assert.equal(nodeprep(`a${char}b`), null, char);
    assert.equal(nodeprep('a\uff20b'), null); // FULLWIDTH @ normalizes to @
  });

  it('refuses spaces and controls', () => {
    assert.equal(nodeprep('a b'), null);
    assert.equal(nodeprep('a\u00a0b'), null);
    assert.equal(nodeprep('a\u3000b'), null);
    assert.equal(nodeprep('a\tb'), null);
    assert.equal(nodeprep('a\u0085b'), null);
  });

  it('checks prohibited characters after normalization', () => {
    // '<' followed by COMBINING LONG SOLIDUS OVERLAY composes to U+226E.
    assert.equal(nodeprep('a<\u0338b'), 'a\u226eb');
  });

  it('returns the input for plain ASCII already prepared', () => {
    assert.equal(nodeprep('romeo.montague-1_x'), 'romeo.montague-1_x');
  });
});

describe('resourceprep', () => {
  it('keeps case and spaces', () => {
    assert.equal(resourceprep('Balcony'), 'Balcony');
    assert.equal(resourceprep('The Balcony'), 'The Balcony');
    assert.equal(resourceprep(`"&'/:<>@`), `"&'/:<>@`);
    assert.equal(resourceprep('Straße'), 'Straße');
  });

  it('normalizes with NFKC and maps B.1 only', () => {
    assert.equal(resourceprep('ＢＡＬ'), 'BAL');
    assert.equal(resourceprep('a\u00a0b'), 'a b');
    assert.equal(resourceprep('a\u00adb'), 'ab');
    assert.equal(resourceprep('\u2168'), 'IX'); // ROMAN NUMERAL NINE
  });

  it('refuses controls and other prohibited characters', () => {
    assert.equal(resourceprep('a\u0007b'), null);
    assert.equal(resourceprep('a\u007fb'), null);
    assert.equal(resourceprep('a\u200eb'), null); // LEFT-TO-RIGHT MARK (C.8)
    assert.equal(resourceprep('a\u2028b'), null); // LINE SEPARATOR (C.2.2)
    assert.equal(resourceprep('a\ue000b'), null); // private use (C.3)
    assert.equal(resourceprep('a\ufffeb'), null); // non-character (C.4)
    assert.equal(resourceprep('a\u2ff0b'), null); // ideographic description (C.7)
    assert.equal(resourceprep('a\u{e0001}b'), null); // language tag (C.9)
    assert.equal(resourceprep('a\ud800b'), null); // lone surrogate (C.5)
  });

  it('applies the bidi rule', () => {
    assert.equal(resourceprep('\u05e9\u05dc\u05d5\u05dd'), '\u05e9\u05dc\u05d5\u05dd'); // all right-to-left
    assert.equal(resourceprep('\u05d01\u05d1'), '\u05d01\u05d1'); // neutral digits inside
    assert.equal(resourceprep('\u05d0a'), null); // mixed with left-to-right
    assert.equal(resourceprep('1\u05d0'), null); // does not start right-to-left
    assert.equal(resourceprep('\u05d01'), null); // does not end right-to-left
    assert.equal(resourceprep('\u0627\u0644\u0639\u0631\u0628\u064a\u0629'), '\u0627\u0644\u0639\u0631\u0628\u064a\u0629');
  });

  it('lets unassigned code points through unless strict', () => {
    assert.equal(resourceprep('a\u0221'), 'a\u0221');
    assert.equal(resourceprep('a\u0221', true), null);
    assert.equal(resourceprep('a\u{1f600}', true), null); // emoji came after Unicode 3.2
    assert.equal(resourceprep('romeo', true), 'romeo');
  });
});

describe('nameprep', () => {
  it('folds case and normalizes', () => {
    assert.equal(nameprep('Example.COM'), 'example.com');
    assert.equal(nameprep('BÜCHER'), 'bücher');
    assert.equal(nameprep('ＥＸＡＭＰＬＥ'), 'example');
  });

  it('refuses prohibited characters', () => {
    assert.equal(nameprep('a\u00a0b'), 'a b'); // space is left to the STD3 rules
    assert.equal(nameprep('a\u2028b'), null);
  });
});

describe('parseJid', () => {
  it('prepares each part', () => {
    assert.deepEqual(parseJid('Juliet@Example.COM/Balcony'), { local: 'juliet', domain: 'example.com', resource: 'Balcony' });
    assert.deepEqual(parseJid('example.com'), { local: '', domain: 'example.com', resource: '' });
    assert.deepEqual(parseJid('Room@Conference.Localhost'), { local: 'room', domain: 'conference.localhost', resource: '' });
    assert.deepEqual(parseJid('Straße@example.com/Straße'), { local: 'strasse', domain: 'example.com', resource: 'Straße' });
  });

  it('splits at the first slash, then the first @ before it', () => {
    assert.deepEqual(parseJid('room@muc.example/nick/with@slash'), {
      local: 'room',
      domain: 'muc.example',
      resource: 'nick/with@slash',
    });
    assert.deepEqual(parseJid('muc.example/a@b'), { local: '', domain: 'muc.example', resource: 'a@b' });
  });

  it('splits where @xmpp/jid splits, for plain JIDs', () => {
    for (const text of ['a@b', 'a@b/c', 'b/c', 'b', 'a@b/c/d', 'b/c@d', 'a@b.c/d e']) {
      const ours = parseJid(text);
      const theirs = xmppJsParse(text);
      assert.deepEqual(ours, { local: theirs.local, domain: theirs.domain, resource: theirs.resource }, text);
    }
  });

  it('refuses empty parts', () => {
    for (const text of ['', '@example.com', 'a@', 'a@/r', 'example.com/', 'a@example.com/', '/r', '@', '.']) {
      assert.equal(parseJid(text), null, JSON.stringify(text));
    }
    assert.equal(parseJid('\u00ad@example.com'), null); // local part prepares to nothing
  });

  it('refuses invalid local parts and resources', () => {
    for (const text of ['a"b@x', "a'b@x", 'a&b@x', 'a:b@x', 'a<b@x', 'a>b@x', 'a@b@x', 'a b@x', 'a\u0000b@x']) {
      assert.equal(parseJid(text), null, JSON.stringify(text));
    }
    assert.equal(parseJid('x/a\u0007b'), null);
    assert.equal(parseJid('\u05d0a@x'), null);
  });

  it('refuses parts longer than 1023 bytes', () => {
    const local = 'a'.repeat(1023);
    assert.equal(parseJid(`${local}@x`)?.local, local);
    assert.equal(parseJid(`${local}a@x`), null);
    assert.equal(parseJid(`x/${'é'.repeat(511)}`)?.resource.length, 511); // 1022 bytes
    assert.equal(parseJid(`x/${'é'.repeat(512)}`), null); // 1024 bytes
    assert.equal(parseJid(`x/${'€'.repeat(341)}`)?.resource.length, 341); // 1023 bytes
    assert.equal(parseJid(`x/${'€'.repeat(342)}`), null);
    const label = 'a'.repeat(63);
    const domain = Array(16).fill(label).join('.'); // 1023 characters
    assert.equal(parseJid(domain)?.domain, domain);
    assert.equal(parseJid(domain + 'a'), null);
  });

  it('handles domains: trailing dot, host name rules, IP literals', () => {
    assert.equal(parseJid('a@Example.COM.')?.domain, 'example.com');
    assert.equal(parseJid('a@example.com..'), null);
    assert.equal(parseJid('a@127.0.0.1')?.domain, '127.0.0.1');
    assert.equal(parseJid('a@[::1]/r')?.domain, '[::1]');
    assert.equal(parseJid('a@[2001:DB8::1]')?.domain, '[2001:db8::1]');
    assert.equal(parseJid('a@[::g]'), null);
    assert.equal(parseJid('a@[::1'), null);
    for (const domain of ['exa mple.com', 'exa_mple.com', '-example.com', 'example-.com', 'a..b', 'a'.repeat(64) + '.com', 'ex!ample']) {
      assert.equal(parseJid(`a@${domain}`), null, domain);
    }
    assert.equal(parseJid('a@' + 'a'.repeat(63) + '.com')?.domain, 'a'.repeat(63) + '.com');
  });

  it('handles internationalized domains in Unicode form', () => {
    assert.equal(parseJid('a@BÜCHER.example')?.domain, 'bücher.example');
    assert.equal(parseJid('a@россия.РФ')?.domain, 'россия.рф');
    assert.equal(parseJid('a@example\u3002com')?.domain, 'example.com'); // ideographic full stop
    assert.equal(parseJid('a@ＥＸＡＭＰＬＥ．ＣＯＭ')?.domain, 'example.com'); // fullwidth
    assert.equal(parseJid('a@xn--bcher-kva.example')?.domain, 'xn--bcher-kva.example'); // ACE form kept as is
    // The bidi rule applies per label, as in IDNA.
    assert.equal(parseJid('a@\u05e9\u05dc\u05d5\u05dd.example')?.domain, '\u05e9\u05dc\u05d5\u05dd.example');
    assert.equal(parseJid('a@\u05e9a.example'), null);
    assert.equal(parseJid('a@b\u2028c.example'), null);
    assert.equal(parseJid('a@b\uff0fc.example'), null); // FULLWIDTH SOLIDUS normalizes to '/'
  });

  it('allows unassigned code points (not strict)', () => {
    assert.equal(parseJid('a\u0221@x')?.local, 'a\u0221');
  });
});

describe('prepJid and formatJid', () => {
  it('give the normalized string form', () => {
    assert.equal(prepJid('Juliet@Example.COM/Balcony'), 'juliet@example.com/Balcony');
    assert.equal(prepJid('ROOM@Conference.Localhost'), 'room@conference.localhost');
    assert.equal(prepJid('Conference.Localhost/Nick'), 'conference.localhost/Nick');
    assert.equal(prepJid('a@b@c'), null);
    assert.equal(formatJid({ local: '', domain: 'example.com', resource: '' }), 'example.com');
    assert.equal(formatJid({ local: 'a', domain: 'example.com', resource: 'r/s' }), 'a@example.com/r/s');
  });

  it('is idempotent', () => {
    for (const text of ['Juliet@Example.COM/Balcony', 'Straße@BÜCHER.example/ＢＡＬ', 'a@x/\u05d0\u05d1', 'ro\u00admeo@x.']) {
      const once = prepJid(text);
      assert.ok(once, text);
      assert.equal(prepJid(once), once, text);
    }
  });
});

describe('unprepared helpers', () => {
  it('split without preparing', () => {
    assert.equal(bareJid('room@muc.example/Nick/x'), 'room@muc.example');
    assert.equal(bareJid('muc.example'), 'muc.example');
    assert.equal(jidResource('room@muc.example/Nick/x'), 'Nick/x');
    assert.equal(jidResource('room@muc.example'), '');
    assert.equal(jidDomain('room@muc.example/a@b'), 'muc.example');
    assert.equal(jidDomain('muc.example/a@b'), 'muc.example');
    assert.equal(jidDomain('muc.example'), 'muc.example');
  });
});

describe('prepNickname', () => {
  it('prepares like strict resourceprep', () => {
    assert.equal(prepNickname('Romeo'), 'Romeo');
    assert.equal(prepNickname('Romeo Montague'), 'Romeo Montague');
    assert.equal(prepNickname('ＲＯＭＥＯ'), 'ROMEO');
    assert.equal(prepNickname('ro\u00admeo'), 'romeo');
    assert.equal(prepNickname('thirdwitch/x@y'), 'thirdwitch/x@y');
    assert.equal(prepNickname('\u05e9\u05dc\u05d5\u05dd'), '\u05e9\u05dc\u05d5\u05dd');
  });

  it('refuses empty, too long and invalid nicknames', () => {
    assert.equal(prepNickname(''), null);
    assert.equal(prepNickname('\u00ad'), null);
    assert.equal(prepNickname('a'.repeat(1024)), null);
    assert.equal(prepNickname('a'.repeat(1023)), 'a'.repeat(1023));
    assert.equal(prepNickname('a\u0000b'), null);
    assert.equal(prepNickname('a\u200eb'), null);
    assert.equal(prepNickname('\u05d0a'), null);
  });

  it('refuses code points unassigned in Unicode 3.2', () => {
    assert.equal(prepNickname('a\u0221'), null);
    assert.equal(prepNickname('\u{1f600}'), null);
    assert.equal(prepNickname('\u0378'), null);
  });
});
