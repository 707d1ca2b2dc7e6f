// The resumption queue of a session whose client is away (XEP-0198): a
// presence superseded by a newer one from the same JID goes if it was never
// written, messages never do, h stays right, and only what cannot collapse
// counts against max_unacked_stanzas.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { el, type Element } from '../../src/xml/element.js';
import { StreamManagement, type ManagedSession } from '../../src/frontend/stream-management.js';
import { XmppStreamParser } from '../../src/xml/stream-parser.js';

const ROOM = 'room@conference.localhost';

class Session implements ManagedSession {
  readonly bareJid = 'juliet@localhost';
  readonly nonzas: string[] = [];
  readonly errors: string[] = [];
  writeNonza(xml: string): void {
    this.nonzas.push(xml);
  }
  streamError(condition: string): void {
    this.errors.push(condition);
  }
}

function enable(maxUnacked = 10): { sm: StreamManagement<Session>; session: Session } {
  const session = new Session();
  const settings = { resumption_timeout: 60, max_unacked_stanzas: maxUnacked, max_queued_bytes: 1 << 20 };
  const sm = StreamManagement.enable(session, el('enable', { resume: 'true' }), settings, new Map());
  return { sm, session };
}

function presence(nick: string, type?: string): string {
  return el('presence', { from: `${ROOM}/${nick}`, to: 'juliet@localhost/phone', ...(type ? { type } : {}) }).toString();
}

function message(body: string): string {
  return `<message from='${ROOM}/Romeo' to='juliet@localhost/phone' type='groupchat'><body>${body}</body></message>`;
}

/** The stanzas of a <resumed/> answer, parsed, its <delay/> stamps left out. */
function replayed(answer: string): Element[] {
  const stanzas: Element[] = [];
  const parser = new XmppStreamParser(
    { streamStart: () => {}, stanza: (stanza) => stanzas.push(stanza), streamEnd: () => {}, error: (condition) => assert.fail(condition) },
    { maxStanzaSize: 1 << 20, maxDepth: 16, maxAttributes: 32 },
  );
  parser.write(Buffer.from(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>${answer}`));
  for (const stanza of stanzas) stanza.children = stanza.children.filter((child) => typeof child === 'string' || child.name !== 'delay');
  return stanzas;
}

function describe(stanza: Element): string {
  if (stanza.name === 'message') return `message ${stanza.getChildText('body')}`;
  return [stanza.name, stanza.attrs.from?.split('/')[1], stanza.attrs.type ?? 'available'].filter(Boolean).join(' ');
}

test('while away, the latest presence of each JID stays in its place and messages all stay, in order; h counts what was replayed', () => {
  const { sm, session } = enable();
  sm.stanzasSent(presence('Romeo') + presence('Nurse'));
  sm.stanzasWritten();
  sm.away();
  sm.stanzasSent(presence('Romeo', 'unavailable'));
  sm.stanzasSent(message('one'));
  sm.stanzasSent(presence('Tybalt'));
  sm.stanzasSent(presence('Romeo'));
  sm.stanzasSent(presence('Tybalt', 'unavailable') + message('two'));
  // The client had read the first presence (h 1); the second was written, so it is replayed whole.
  const answer = sm.resume('1', sm.id!)!;
  assert.match(answer, /^<resumed [^>]*h='0'/);
  assert.deepEqual(replayed(answer.slice(answer.indexOf('/>') + 2)).map(describe), [
    'presence Nurse available',
    'message one',
    'presence Romeo available',
    'presence Tybalt unavailable',
    'message two',
  ]);
  // Six stanzas sent in all once two were superseded: an <a/> of 6 acknowledges them all.
  sm.stanzasWritten();
  sm.handle(el('a', { h: '6' }));
  assert.deepEqual(session.errors, []);
  assert.equal(sm.ackRequest(false), undefined, 'nothing is left unacknowledged');
});

test('a presence written before the connection was lost is never dropped; one queued but unwritten is', () => {
  const { sm, session } = enable();
  sm.stanzasSent(presence('Romeo'));
  sm.stanzasWritten();
  // Queued after the last write: lost with the connection, so never written.
  sm.stanzasSent(presence('Nurse'));
  sm.away();
  sm.stanzasSent(presence('Romeo', 'unavailable') + presence('Nurse', 'unavailable'));
  const answer = sm.resume('0', sm.id!)!;
  assert.deepEqual(replayed(answer.slice(answer.indexOf('/>') + 2)).map(describe), [
    'presence Romeo available',
    'presence Romeo unavailable',
    'presence Nurse unavailable',
  ]);
  sm.stanzasWritten();
  sm.handle(el('a', { h: '4' }));
  assert.deepEqual(session.errors, ['undefined-condition'], 'three stanzas were sent in all: h 4 is too high');
});

test('error presences and subscription requests never collapse, nor presences written', () => {
  const { sm } = enable(100);
  sm.stanzasSent(presence('Romeo') + presence('Romeo'));
  sm.stanzasWritten();
  sm.away();
  sm.stanzasSent(presence('Romeo', 'error') + presence('Romeo', 'error'));
  sm.stanzasSent(el('presence', { from: 'nurse@localhost', type: 'subscribe' }).toString().repeat(2));
  const answer = sm.resume('0', sm.id!)!;
  assert.deepEqual(replayed(answer.slice(answer.indexOf('/>') + 2)).map(describe), [
    'presence Romeo available',
    'presence Romeo available',
    'presence Romeo error',
    'presence Romeo error',
    'presence subscribe',
    'presence subscribe',
  ]);
});

test('away, churn that collapses never ends resumption; messages past max_unacked_stanzas do', () => {
  const { sm } = enable(10);
  sm.away();
  for (let round = 0; round < 100; round++) {
    for (const nick of ['Romeo', 'Nurse', 'Tybalt']) sm.stanzasSent(presence(nick, 'unavailable') + presence(nick));
  }
  for (let i = 0; i < 10; i++) sm.stanzasSent(message(String(i)));
  assert.equal(sm.lost, false);
  sm.stanzasSent(message('one too many'));
  assert.equal(sm.lost, true);
  assert.equal(sm.resumable, false);
});

test('connected, past max_unacked_stanzas the oldest go and resumption waits until the client has acknowledged past them, as in Prosody', () => {
  const { sm, session } = enable(10);
  for (let i = 0; i < 12; i++) sm.stanzasSent(message(String(i)));
  sm.stanzasWritten();
  assert.equal(sm.resumable, false, 'two stanzas could not be replayed');
  sm.handle(el('a', { h: '1' }));
  assert.equal(sm.resumable, false, 'one still could not');
  sm.handle(el('a', { h: '3' }));
  assert.equal(sm.resumable, true);
  assert.deepEqual(session.errors, []);
  const answer = sm.resume('3', sm.id!)!;
  assert.deepEqual(replayed(answer.slice(answer.indexOf('/>') + 2)).map(describe), ['3', '4', '5', '6', '7', '8', '9', '10', '11'].map((n) => `message ${n}`));
});
