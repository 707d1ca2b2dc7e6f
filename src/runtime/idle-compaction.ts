// Gives a thread's memory back once it has been idle for a while after a burst
// (a wave of logins, a join storm). V8 keeps what it grew to: a young
// generation that grew to 32 MiB stays 32 MiB, and objects promoted during the
// burst die later and leave old pages fragmented, which ordinary full
// collections move only when nearly empty. Its own memory reducer does give
// both back, but only when its heuristics catch the lull (9 s after a join
// storm in one thread, never within 40 s in another).
//
// So each thread looks twice a second, and once its event loop has been idle
// for IDLE_MS and its heap grew since the last compaction, asks V8 for a
// memory-reducing collection: what V8 does on a low-memory notification, every
// page compacted and the young generation shrunk back to its initial size.
// The inspector protocol is the one way to ask for it from JavaScript.
//
// Why wait seconds, not one look: such a collection also drops the optimized
// code whose objects died with the burst (nearly the whole join path, once the
// last client left), and the young and old generations restart small. A storm
// one second after a 1000-client warm-up cost 1.4–1.8 server CPU-s with a
// compaction in between against 0.9–1.0 without (bench/PERFORMANCE.md). A lull
// of a second or two is part of a burst; an idle server can afford to re-warm.

import { Session } from 'node:inspector';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';

const CHECK_INTERVAL_MS = 500;
/** How long a thread's event loop must have been idle before it compacts. */
const IDLE_MS = 5_000;
/** The share of an interval the event loop may have been busy for it to count as idle. */
const IDLE_UTILIZATION = 0.01;
/** Growth since the last compaction that makes one worth its pause: this much, and at least an eighth of the heap. */
const MIN_GROWTH_BYTES = 4 * 1024 * 1024;

/**
 * When to compact, apart from the clock and V8 so that it can be tested as
 * arithmetic: fed one observation per check, it says whether to compact now.
 */
export class CompactionPolicy {
  /** Zero: the first idle stretch after start gives back what loading the program left. */
  private floor = 0;
  private idleSince: number;

  constructor(
    private readonly idleMs: number,
    now: number,
  ) {
    this.idleSince = now;
  }

  /** One check: the time, whether the loop was busy since the last one, and the heap's size. */
  observe(now: number, busy: boolean, heapSize: number): boolean {
    if (busy) this.idleSince = now;
    if (now - this.idleSince >= this.idleMs && heapSize - this.floor > Math.max(MIN_GROWTH_BYTES, this.floor / 8)) {
      this.floor = heapSize;
      return true;
    }
    if (heapSize < this.floor) this.floor = heapSize;
    return false;
  }

  /** The heap's size once a compaction is done: growth is counted from there. */
  compacted(heapSize: number): void {
    this.floor = heapSize;
  }
}

/** Starts watching the calling thread; the returned function stops. `idleMs` is for tests and benches. */
export function startIdleCompaction(idleMs = IDLE_MS): () => void {
  // An open session costs nothing while no domain is enabled. A Node built
  // without the inspector refuses it: that thread just never compacts.
  const session = new Session();
  try {
    session.connect();
  } catch {
    return () => {};
  }
  const policy = new CompactionPolicy(idleMs, performance.now());
  let utilization = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, utilization).utilization >= IDLE_UTILIZATION;
    utilization = now;
    if (policy.observe(performance.now(), busy, heapSize())) {
      // V8 runs the collection as a task of this thread's loop; the floor is read once it is done.
      session.post('HeapProfiler.collectGarbage', () => policy.compacted(heapSize()));
    }
  }, CHECK_INTERVAL_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    session.disconnect();
  };
}

function heapSize(): number {
  return v8.getHeapStatistics().total_physical_size;
}
