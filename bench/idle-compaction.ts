// What idle compaction gives back (src/runtime/idle-compaction.ts), measured
// rather than asserted: a burst grows the young generation and leaves old
// pages half full; once the thread has been idle, the heap should shrink.
// Run in the main thread and in a worker. It prints figures and asserts
// nothing (heap sizes depend on V8's version and the machine's load).
//
//   npm run bench:compaction

import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { startIdleCompaction } from '../src/runtime/idle-compaction.js';

const IDLE_MS = 1_000;
const WAIT_MS = IDLE_MS + 4_000;
const MiB = 1024 * 1024;

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

async function mainThread(): Promise<void> {
  const stop = startIdleCompaction(IDLE_MS);
  try {
    // Small objects promoted to the old generation, of which every other one
    // dies: the pages stay half full, which ordinary full collections leave.
    const burst = Array.from({ length: 64 }, (_, i) => Array.from({ length: 16_384 }, (_, j) => `${i}:${j}:`.padEnd(48, 'x')));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const survivors = burst.flatMap((strings) => strings.filter((_, j) => j % 2 === 0));
    burst.length = 0;
    youngBurst();
    const grown = { heap: v8.getHeapStatistics().total_physical_size, young: newSpaceSize() };
    await new Promise((resolve) => setTimeout(resolve, WAIT_MS));
    const idle = { heap: v8.getHeapStatistics().total_physical_size, young: newSpaceSize() };
    console.log(
      `main thread: heap ${mib(grown.heap)} → ${mib(idle.heap)} MiB, young generation ${mib(grown.young)} → ${mib(idle.young)} MiB ` +
        `after ${WAIT_MS} ms idle (${survivors.length} survivors kept)`,
    );
  } finally {
    stop();
  }
}

async function workerThread(): Promise<void> {
  const moduleUrl = new URL('../src/runtime/idle-compaction.js', import.meta.url).href;
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
    setTimeout(() => { stop(); parentPort.postMessage({ grown, after: newSpace() }); }, ${WAIT_MS});`;
  const { grown, after } = await new Promise<{ grown: number; after: number }>((resolve, reject) => {
    const worker = new Worker(code, { eval: true });
    worker.once('message', (sizes: { grown: number; after: number }) => void worker.terminate().then(() => resolve(sizes)));
    worker.once('error', reject);
  });
  console.log(`worker thread: young generation ${mib(grown)} → ${mib(after)} MiB after ${WAIT_MS} ms idle`);
}

function mib(bytes: number): string {
  return (bytes / MiB).toFixed(1);
}

await mainThread();
await workerThread();
