// Reading back serialized XML: the top-level elements of a string the router
// writes, and an attribute of a start tag.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { el } from '../../src/xml/element.js';
import { startTagAttribute, topLevelElements } from '../../src/xml/serialized.js';

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
