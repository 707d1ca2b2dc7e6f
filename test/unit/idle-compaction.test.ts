// Idle compaction: a heap that grew and then went idle is compacted (a major
// collection that gives the burst's pages back), and the `gc` function it
// borrows from V8 is not left for other code to find.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { startIdleCompaction } from '../../src/runtime/idle-compaction.js';

test('idle compaction leaves no gc function to other code', () => {
  const stop = startIdleCompaction();
  stop();
  assert.equal((globalThis as { gc?: unknown }).gc, undefined);
  assert.equal(runInNewContext('typeof gc'), 'undefined');
});

test('threads that start together all get their compaction (shard workers start at once)', async () => {
  // Each borrows `gc` by flipping a process-wide flag; one thread's reset used to
  // leave another's new context without `gc`, and the shard worker died starting.
  const moduleUrl = new URL('../../src/runtime/idle-compaction.js', import.meta.url).href;
  const code =
    `import { startIdleCompaction } from '${moduleUrl}'; import { parentPort } from 'node:worker_threads';` +
    `try { startIdleCompaction()(); parentPort.postMessage('ok'); } catch (err) { parentPort.postMessage(String(err)); }`;
  for (let round = 0; round < 5; round++) {
    const outcomes = await Promise.all(
      Array.from(
        { length: 8 },
        () =>
          new Promise<string>((resolve) => {
            const worker = new Worker(code, { eval: true });
            worker.once('message', (outcome: string) => void worker.terminate().then(() => resolve(outcome)));
            worker.once('error', (err) => resolve(String(err)));
          }),
      ),
    );
    assert.deepEqual(outcomes, Array(8).fill('ok'));
  }
});

test('a heap that grew by a burst is compacted once the thread is idle', async () => {
  const stop = startIdleCompaction();
  const majors: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } };
      if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors.push(entry.startTime);
    }
  });
  try {
    // A burst of small objects promoted to the old generation, of which every
    // other one dies: the pages stay half full, which V8's ordinary full
    // collections leave as they are, and only its memory reducer (some 9 s
    // later) would compact.
    const burst = Array.from({ length: 64 }, (_, i) => Array.from({ length: 16_384 }, (_, j) => `${i}:${j}:`.padEnd(48, 'x')));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const survivors = burst.flatMap((strings) => strings.filter((_, j) => j % 2 === 0));
    burst.length = 0;
    const grown = v8.getHeapStatistics().total_physical_size;
    observer.observe({ entryTypes: ['gc'] });
    const deadline = Date.now() + 5_000;
    while (v8.getHeapStatistics().total_physical_size > grown * 0.8 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(majors.length > 0, 'no major collection while idle');
    assert.ok(v8.getHeapStatistics().total_physical_size <= grown * 0.8, 'the heap kept the burst’s pages');
    assert.equal(survivors.length, 64 * 8_192);
  } finally {
    observer.disconnect();
    stop();
  }
});
