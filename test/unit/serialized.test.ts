// Reading back serialized XML: the top-level elements of a string the router
// writes, an attribute of a start tag, an element's children; and adding one.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { el } from '../../src/xml/element.js';
import { childElements, startTagAttribute, topLevelElements, withChild } from '../../src/xml/serialized.js';
import { delayed } from '../../src/xmpp/delay.js';

test('topLevelElements splits what the serializer wrote, whatever the text and attributes hold', () => {
  const tricky = el('message', { from: 'a@b/<x>', type: 'groupchat' }, el('body', {}, '</message> <b/> 1 > 0'), el('x', { xmlns: 'urn:x' }));
  const presence = el('presence', { from: "o'neil@c/n" });
  const iq = el('iq', { type: 'result', id: '1' });
  const xml = tricky.toString() + presence.toString() + iq.toString();
  assert.deepEqual(topLevelElements(xml), [tricky.toString(), presence.toString(), iq.toString()]);
  assert.deepEqual(topLevelElements(''), []);
});

test('startTagAttribute reads the start tag only', () => {
  const xml = el('message', { type: 'chat', from: 'a@b' }, el('x', { type: 'inner' })).toString();
  assert.equal(startTagAttribute(xml, 'type'), 'chat');
  assert.equal(startTagAttribute(xml, 'from'), 'a@b');
  assert.equal(startTagAttribute(el('presence', {}, el('x', { type: 'inner' })).toString(), 'type'), undefined);
});

test('childElements and withChild read and extend an element, empty or not', () => {
  const delay = el('delay', { xmlns: 'urn:xmpp:delay', stamp: 'x' }).toString();
  const empty = el('presence', { from: 'a@b/c' }).toString();
  assert.deepEqual(childElements(empty), []);
  assert.equal(withChild(empty, delay), el('presence', { from: 'a@b/c' }, el('delay', { xmlns: 'urn:xmpp:delay', stamp: 'x' })).toString());
  const message = el('message', {}, el('body', {}, '</message>'), el('x', {}, el('y'))).toString();
  assert.deepEqual(childElements(message), [el('body', {}, '</message>').toString(), el('x', {}, el('y')).toString()]);
  assert.equal(withChild(message, delay), el('message', {}, el('body', {}, '</message>'), el('x', {}, el('y')), el('delay', { xmlns: 'urn:xmpp:delay', stamp: 'x' })).toString());
});

test('delayed stamps a message or presence once, and never an iq', () => {
  const at = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
  const once = delayed(el('message', {}, el('body', {}, 'hi')).toString(), 'localhost', at);
  assert.equal(once, "<message><body>hi</body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='2026-01-02T03:04:05.006Z'/></message>");
  assert.equal(delayed(once, 'localhost', at + 1000), once);
  const iq = el('iq', { type: 'result', id: '1' }).toString();
  assert.equal(delayed(iq, 'localhost', at), iq);
  // A delay inside a forwarded message is not the stanza's own.
  const forwarded = el('message', {}, el('forwarded', {}, el('delay', { xmlns: 'urn:xmpp:delay', stamp: 'y' }))).toString();
  assert.notEqual(delayed(forwarded, 'localhost', at), forwarded);
});
