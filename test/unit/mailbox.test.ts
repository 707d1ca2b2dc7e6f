import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mailbox } from '../../src/runtime/mailbox.js';

const ignoreErrors = () => {};

/** A promise with its resolver, to finish an async handler when the test says so. */
function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

test('handles items in the order they were posted', () => {
  const handled: number[] = [];
  const mailbox = new Mailbox<number>((item) => void handled.push(item), 100, ignoreErrors);
  for (let i = 0; i < 50; i++) mailbox.post(i);
  assert.deepEqual(handled, Array.from({ length: 50 }, (_, i) => i));
  assert.ok(mailbox.idle);
});

test('runs one async handler at a time, each to completion', async () => {
  const log: string[] = [];
  const gates = [deferred(), deferred(), deferred()];
  const mailbox = new Mailbox<number>(
    async (item) => {
      log.push(`start ${item}`);
      await gates[item].promise;
      log.push(`end ${item}`);
    },
    10,
    ignoreErrors,
  );
  mailbox.post(0);
  mailbox.post(1);
  mailbox.post(2);
  assert.deepEqual(log, ['start 0']);
  assert.equal(mailbox.size, 2);

  // Finishing a later item's work first changes nothing: item 1 has not started.
  gates[1].resolve();
  gates[0].resolve();
  await gates[0].promise;
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(log, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2']);

  gates[2].resolve();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(log, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  assert.ok(mailbox.idle);
});

test('refuses items beyond its limit and takes them again once there is room', async () => {
  const gate = deferred();
  const handled: number[] = [];
  const mailbox = new Mailbox<number>(
    async (item) => {
      handled.push(item);
      await gate.promise;
    },
    2,
    ignoreErrors,
  );
  assert.equal(mailbox.post(0), true); // being handled: no longer waiting
  assert.equal(mailbox.post(1), true);
  assert.equal(mailbox.post(2), true);
  assert.equal(mailbox.post(3), false);
  assert.equal(mailbox.size, 2);

  gate.resolve();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(handled, [0, 1, 2]);
  assert.equal(mailbox.post(4), true);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(handled, [0, 1, 2, 4]);
});

test('reports a failing handler and goes on with the next item', async () => {
  const handled: number[] = [];
  const errors: [string, number][] = [];
  const mailbox = new Mailbox<number>(
    (item) => {
      if (item === 1) throw new Error('sync failure');
      if (item === 3) return Promise.reject(new Error('async failure'));
      handled.push(item);
    },
    10,
    (err, item) => errors.push([(err as Error).message, item]),
  );
  for (let i = 0; i < 5; i++) mailbox.post(i);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(handled, [0, 2, 4]);
  assert.deepEqual(errors, [
    ['sync failure', 1],
    ['async failure', 3],
  ]);
  assert.ok(mailbox.idle);
});

test('yields to the event loop every turnBudget items, so another mailbox gets its turn in between', async () => {
  const log: string[] = [];
  const deep = new Mailbox<number>((item) => void log.push(`deep ${item}`), 100, ignoreErrors, () => {}, 3);
  const other = new Mailbox<number>((item) => void log.push(`other ${item}`), 100, ignoreErrors, () => {}, 3);
  for (let i = 0; i < 7; i++) deep.post(i);
  assert.deepEqual(log, ['deep 0', 'deep 1', 'deep 2']);
  assert.equal(deep.size, 4);
  // Posted while the deep mailbox waits for its next turn: handled now, not after the backlog.
  other.post(0);
  assert.deepEqual(log.at(-1), 'other 0');
  while (!deep.idle) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(log, ['deep 0', 'deep 1', 'deep 2', 'other 0', 'deep 3', 'deep 4', 'deep 5', 'deep 6']);
});
