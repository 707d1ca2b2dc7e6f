// When a node sends what it gathered for the others: at the turn's end when
// waiting would not pay or the batch is full, else after a short hold.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { emptyBatch, encodeBatch, FlushPolicy, FlushTimer, framed, frameBytes } from '../../src/cluster/batch.js';
import { el } from '../../src/xml/element.js';

/** A policy that has sent `items` every `everyMs` for a while, up to `now`. */
function steady(policy: FlushPolicy, items: number, everyMs: number, now: number): void {
  for (let at = now - 20 * everyMs; at <= now; at += everyMs) policy.flushed(items, at);
}

it('sends at the turn end while the node sends little: a hold would only add latency', () => {
  const policy = new FlushPolicy(2);
  assert.equal(policy.holdMs(1, 0), 0, 'nothing sent yet');
  steady(policy, 1, 10, 1000);
  assert.equal(policy.holdMs(1, 1010), 0, 'one item per 10 ms: less than one more is expected in 2 ms');
});

it('holds a small batch under steady traffic, and sends a full one at once', () => {
  const policy = new FlushPolicy(2, 100);
  steady(policy, 6, 2, 1000);
  assert.equal(policy.holdMs(1, 1000.5), 2, 'three items a millisecond: a hold gathers more');
  assert.equal(policy.holdMs(99, 1001.9), 2);
  assert.equal(policy.holdMs(100, 1002), 0, 'full');
});

it('sends the first item after a lull at once, and never holds with a delay of 0', () => {
  const policy = new FlushPolicy(2);
  steady(policy, 6, 2, 1000);
  assert.equal(policy.holdMs(1, 6000), 0, 'quiet for 5 s');
  const every = new FlushPolicy(0);
  steady(every, 50, 1, 1000);
  assert.equal(every.holdMs(1, 1000.5), 0);
});

it('flushes at the turn end, after a hold, or at once when a held batch is asked for sooner', async () => {
  let flushes = 0;
  let flushed = () => {};
  const timer = new FlushTimer(() => {
    flushes++;
    flushed();
  });
  timer.within(0);
  assert.equal(flushes, 0, 'not in the middle of the turn');
  await turn();
  assert.equal(flushes, 1, 'at its end');

  timer.within(60_000);
  await turn();
  assert.equal(flushes, 1, 'held');
  timer.within(60_000);
  timer.within(0);
  await turn();
  assert.equal(flushes, 2, 'a full batch goes at once, and the hold is over');

  const afterHold = new Promise<void>((resolve) => (flushed = resolve));
  timer.within(1);
  timer.within(60_000);
  await afterHold;
  assert.equal(flushes, 3, 'after the shorter hold');
  timer.cancel();
});

it('encodes a room message for recipients on several nodes once, and each kind in order', () => {
  const delivery = { head: '<message', tail: " from='r@muc/a' type='groupchat'><body>hi</body></message>" };
  const toB = { ...emptyBatch(), deliveries: [{ ...delivery, to: ['b@x/1'] }], stanzas: [el('message', { to: 'b@x/1' })] };
  const toC = { ...emptyBatch(), deliveries: [{ ...delivery, to: ['c@x/1', 'd@x/1'] }] };
  const encoded = new Map();
  const [b] = encodeBatch(toB, 1 << 20, encoded);
  const [c] = encodeBatch(toC, 1 << 20, encoded);
  assert.equal(encoded.size, 1);
  assert.deepEqual(JSON.parse(b.payload).deliveries, toB.deliveries);
  assert.deepEqual(JSON.parse(c.payload).deliveries, toC.deliveries);
  assert.equal(b.stanzas.length, 1);
  const presence = { head: '<presence', tail: delivery.tail, to: ['e@x/1'] };
  const [p] = encodeBatch({ ...emptyBatch(), deliveries: [presence] }, 1 << 20, encoded);
  assert.deepEqual(JSON.parse(p.payload).deliveries, [presence], 'the same tail behind another head');
});

it("frames a batch's message with its sender, its number and the acknowledgement it carries, in its JSON", () => {
  const [message] = encodeBatch({ ...emptyBatch(), rooms: [el('message', { to: 'r@muc' })] }, 1 << 20);
  const withAck = JSON.parse(framed(message!.payload, { from: 'n"1', seq: 7, ack: 3 }));
  assert.deepEqual([withAck.from, withAck.seq, withAck.ack, withAck.rooms.length], ['n"1', 7, 3, 1]);
  assert.equal('ack' in JSON.parse(framed(message!.payload, { from: 'n1', seq: 8 })), false, 'none when none is due');

  const limit = 4096;
  const many = { ...emptyBatch(), rooms: Array.from({ length: 100 }, (_, i) => el('message', { to: `r${i}@muc` }, el('body', {}, 'x'.repeat(50)))) };
  const messages = encodeBatch(many, limit - frameBytes('n1'));
  assert.ok(messages.length > 1);
  for (const { payload } of messages) {
    const bytes = Buffer.byteLength(framed(payload, { from: 'n1', seq: Number.MAX_SAFE_INTEGER, ack: Number.MAX_SAFE_INTEGER }));
    assert.ok(bytes <= limit, `a framed message stays under the payload limit (${bytes})`);
  }
});
