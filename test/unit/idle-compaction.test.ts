// Idle compaction's decision, as arithmetic: a thread compacts once it has
// been idle long enough after its heap grew enough, never while busy, and
// counts growth from the heap it had after the last compaction. What the
// compaction gives back is measured in bench/idle-compaction.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompactionPolicy } from '../../src/runtime/idle-compaction.js';

const MiB = 1024 * 1024;
const IDLE_MS = 1_000;

test('a grown heap is compacted once the thread has been idle for the interval, not before', () => {
  const policy = new CompactionPolicy(IDLE_MS, 0);
  assert.equal(policy.observe(500, false, 64 * MiB), false);
  assert.equal(policy.observe(999, false, 64 * MiB), false);
  assert.equal(policy.observe(1_000, false, 64 * MiB), true);
});

test('a thread busy again before it was idle long enough is not compacted', () => {
  const policy = new CompactionPolicy(IDLE_MS, 0);
  // Short lulls between bursts, as in a wave of reconnects: never IDLE_MS of idleness.
  for (let now = 0; now < 6_000; now += 500) assert.equal(policy.observe(now, now % 1_000 === 0, 64 * MiB), false, `at ${now} ms`);
});

test('growth is counted from the heap after the last compaction, and must be worth the pause', () => {
  const policy = new CompactionPolicy(IDLE_MS, 0);
  assert.equal(policy.observe(1_000, false, 64 * MiB), true);
  policy.compacted(40 * MiB);
  // Idle still, but only 2 MiB more than after the compaction: not worth another.
  assert.equal(policy.observe(1_500, false, 42 * MiB), false);
  // A new burst, then idleness again: compacted again.
  assert.equal(policy.observe(2_000, true, 90 * MiB), false);
  assert.equal(policy.observe(3_000, false, 90 * MiB), true);
});

test('a heap that shrank on its own lowers the floor growth is counted from', () => {
  const policy = new CompactionPolicy(IDLE_MS, 0);
  assert.equal(policy.observe(1_000, false, 64 * MiB), true);
  policy.compacted(64 * MiB);
  assert.equal(policy.observe(1_500, false, 20 * MiB), false);
  // 26 MiB over the new floor of 20: worth a compaction (over 4 MiB and an eighth).
  assert.equal(policy.observe(2_000, false, 46 * MiB), true);
});
