import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { PacedFlush } from '../../src/runtime/paced-flush.js';

test('what is scheduled in one turn leaves in one flush, after the turn', async () => {
  let flushes = 0;
  const paced = new PacedFlush(() => flushes++, 1);
  paced.schedule();
  paced.schedule();
  paced.schedule();
  assert.equal(flushes, 0);
  await nextTurn();
  assert.equal(flushes, 1);
});

test('steady traffic still leaves: each schedule is followed by a flush', async () => {
  const flushed: number[] = [];
  let waiting: (() => void) | undefined;
  let batch = 0;
  const paced = new PacedFlush(() => {
    flushed.push(batch);
    waiting?.();
  }, 1);
  for (batch = 0; batch < 5; batch++) {
    const done = new Promise<void>((resolve) => (waiting = resolve));
    // Scheduled right after the last flush: held for the pace, never dropped.
    paced.schedule();
    await done;
  }
  assert.deepEqual(flushed, [0, 1, 2, 3, 4]);
});
