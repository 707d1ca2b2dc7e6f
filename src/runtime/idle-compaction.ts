// Gives a thread's heap back after a burst (a wave of logins, a join storm).
// V8 keeps the pages it grew to: objects promoted during the burst die later
// and leave them fragmented, and its ordinary full collections move only the
// emptiest pages. Its own memory reducer waits until the allocation rate has
// been low for several seconds (about 9 s measured after a join storm). So
// each thread looks twice a second: if its event loop was idle over the last
// look and its heap grew since the last compaction, it runs one full
// collection that compacts every page. A loaded thread is never idle, so this
// never pauses it; on a big idle heap the pause is as long as a full
// collection of that heap, which is why the growth must be a fair share of it.

import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

const CHECK_INTERVAL_MS = 500;
/** The share of the last interval the event loop may have been busy for the thread to count as idle. */
const IDLE_UTILIZATION = 0.01;
/** Growth since the last compaction that makes one worth its pause: this much, and at least an eighth of the heap. */
const MIN_GROWTH_BYTES = 4 * 1024 * 1024;

/** Starts watching the calling thread; the returned function stops. */
export function startIdleCompaction(): () => void {
  const gc = exposeGc();
  if (gc === undefined) return () => {};
  let floor = heapSize();
  let utilization = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const idle = performance.eventLoopUtilization(now, utilization).utilization < IDLE_UTILIZATION;
    utilization = now;
    const size = heapSize();
    if (idle && size - floor > Math.max(MIN_GROWTH_BYTES, floor / 8)) {
      compact(gc);
      floor = heapSize();
    } else if (size < floor) {
      floor = size;
    }
  }, CHECK_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

function heapSize(): number {
  return v8.getHeapStatistics().total_physical_size;
}

function compact(gc: () => void): void {
  // The flag is process-wide: a collection another thread happens to run meanwhile compacts fully too, which is only slower.
  v8.setFlagsFromString('--compact-on-every-full-gc');
  try {
    gc();
  } finally {
    v8.setFlagsFromString('--no-compact-on-every-full-gc');
  }
}

/** Attempts at borrowing `gc` before this thread gives up compacting. */
const EXPOSE_ATTEMPTS = 100;

/**
 * V8's `gc` function without `--expose-gc` on the command line: a context
 * created while the flag is set gets it. The flag is process-wide, and shard
 * workers starting together flip it too: a context made just after another
 * thread turned it off has no `gc`, so this tries again. Undefined (no
 * compaction in this thread) rather than an exception if it never gets one.
 */
function exposeGc(): (() => void) | undefined {
  const launched = (globalThis as { gc?: () => void }).gc;
  if (launched) return launched;
  for (let attempt = 0; attempt < EXPOSE_ATTEMPTS; attempt++) {
    v8.setFlagsFromString('--expose-gc');
    try {
      const gc = runInNewContext('typeof gc === "function" ? gc : undefined') as (() => void) | undefined;
      if (gc !== undefined) return gc;
    } finally {
      v8.setFlagsFromString('--no-expose-gc');
    }
  }
  return undefined;
}
