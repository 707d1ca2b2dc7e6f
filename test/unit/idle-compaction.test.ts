// Idle compaction: a thread whose heap grew in a burst and then stayed idle
// gets its memory back (old pages compacted, the young generation shrunk to
// its initial size), in the main thread and in a worker; a thread that is not
// idle long enough keeps its heap as it is.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { startIdleCompaction } from '../../src/runtime/idle-compaction.js';

const IDLE_MS = 1_000;

function newSpaceSize(): number {
  return v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')!.space_size;
}

/** Short-lived objects by the million: V8 grows the young generation to its maximum. */
function youngBurst(): void {
  let kept: object[] = [];
  for (let i = 0; i < 3_000_000; i++) {
    const pair = { index: i, label: `x${i}` };
    if (i % 10 === 0) kept.push(pair);
    if (kept.length > 20_000) kept = [];
  }
}

async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  return condition();
}

test('a thread busy again before it was idle long enough is not compacted', async () => {
  // First in the file: the growth that makes a compaction worth it is counted from the heap at start.
  const stop = startIdleCompaction(IDLE_MS);
  try {
    youngBurst();
    const grownNewSpace = newSpaceSize();
    // Short lulls between bursts, as in a wave of reconnects: never IDLE_MS of idleness.
    for (let lull = 0; lull < 6; lull++) {
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS / 2));
      assert.equal(newSpaceSize(), grownNewSpace, `compacted after lull ${lull}`);
      youngBurst();
    }
  } finally {
    stop();
  }
});

test('a heap that grew by a burst is compacted once the thread has been idle', async () => {
  const stop = startIdleCompaction(IDLE_MS);
  try {
    // Small objects promoted to the old generation, of which every other one
    // dies: the pages stay half full, which ordinary full collections leave.
    const burst = Array.from({ length: 64 }, (_, i) => Array.from({ length: 16_384 }, (_, j) => `${i}:${j}:`.padEnd(48, 'x')));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const survivors = burst.flatMap((strings) => strings.filter((_, j) => j % 2 === 0));
    burst.length = 0;
    youngBurst();
    const grownNewSpace = newSpaceSize();
    const grown = v8.getHeapStatistics().total_physical_size;
    assert.ok(grownNewSpace >= 8 * 1024 * 1024, `the burst did not grow the young generation (${grownNewSpace} bytes)`);
    const compacted = await waitFor(() => v8.getHeapStatistics().total_physical_size <= grown * 0.8, IDLE_MS + 4_000);
    assert.ok(compacted, 'the heap kept the burst’s pages');
    assert.ok(newSpaceSize() < grownNewSpace / 4, `the young generation stayed at ${newSpaceSize()} bytes`);
    assert.equal(survivors.length, 64 * 8_192);
  } finally {
    stop();
  }
});

test('a worker thread compacts its own heap', async () => {
  const moduleUrl = new URL('../../src/runtime/idle-compaction.js', import.meta.url).href;
  const code = `
    import { startIdleCompaction } from '${moduleUrl}';
    import { parentPort } from 'node:worker_threads';
    import v8 from 'node:v8';
    const newSpace = () => v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size;
    const stop = startIdleCompaction(${IDLE_MS});
    let kept = [];
    for (let i = 0; i < 3_000_000; i++) { const pair = { index: i, label: 'x' + i }; if (i % 10 === 0) kept.push(pair); if (kept.length > 20_000) kept = []; }
    kept = [];
    const grown = newSpace();
    const deadline = Date.now() + ${IDLE_MS + 4_000};
    const timer = setInterval(() => {
      if (newSpace() < grown / 4 || Date.now() > deadline) {
        clearInterval(timer);
        stop();
        parentPort.postMessage({ grown, after: newSpace() });
      }
    }, 100);`;
  const { grown, after } = await new Promise<{ grown: number; after: number }>((resolve, reject) => {
    const worker = new Worker(code, { eval: true });
    worker.once('message', (sizes: { grown: number; after: number }) => void worker.terminate().then(() => resolve(sizes)));
    worker.once('error', reject);
  });
  assert.ok(after < grown / 4, `the worker's young generation went from ${grown} to ${after} bytes`);
});
