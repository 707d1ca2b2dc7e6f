// The cap on what one node has sent another and not had acknowledged.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { PeerWindows } from '../../src/cluster/flow.js';
import { el } from '../../src/xml/element.js';

it('closes a peer past the cap until its acknowledgements catch up, and keeps each peer apart', () => {
  const windows = new PeerWindows(100);
  assert.equal(windows.open('b'), true);
  assert.equal(windows.sent('b', 60, []), 1);
  assert.equal(windows.open('b'), true, 'under the cap');
  assert.equal(windows.sent('b', 60, []), 2);
  assert.equal(windows.open('b'), false, 'over it');
  assert.equal(windows.open('c'), true, 'another peer is not held back');
  windows.acked('b', 1);
  assert.equal(windows.pending('b'), 60);
  assert.equal(windows.open('b'), true);
  windows.acked('b', 2);
  assert.equal(windows.pending('b'), 0);
});

it('a message over the cap still goes to an idle peer', () => {
  const windows = new PeerWindows(100);
  windows.sent('b', 500, []);
  assert.equal(windows.open('b'), false);
});

it('gives back the stanzas of what was never acknowledged, and numbers on after a reset', () => {
  const windows = new PeerWindows(100);
  const first = el('message', { id: '1' });
  const second = el('iq', { id: '2' });
  windows.sent('b', 10, [first]);
  windows.sent('b', 10, [second]);
  windows.acked('b', 1);
  assert.deepEqual(windows.reset('b'), [second]);
  assert.equal(windows.pending('b'), 0);
  // An acknowledgement of a message from before the reset covers nothing sent after it.
  assert.equal(windows.sent('b', 10, []), 3);
  windows.acked('b', 2);
  assert.equal(windows.pending('b'), 10);
  assert.deepEqual(windows.reset(), []);
});
