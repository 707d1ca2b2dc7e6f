import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { startIdleCompaction } from '../../src/runtime/idle-compaction.js';

test('idle compaction leaves no gc function to other code', () => {
  const stop = startIdleCompaction();
  stop();
  assert.equal((globalThis as { gc?: unknown }).gc, undefined);
  assert.equal(runInNewContext('typeof gc'), 'undefined');
});
