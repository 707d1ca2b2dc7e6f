// The fuzzer and the soak, small: a few thousand inputs against a server and
// the parsers, and a short soak, each with zero crashes and hangs. Nothing here
// asserts a time or a memory size (the machine running the tests is busy); the
// hang timeout is only how long an answer may take before it counts as missing.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeFuzz, fuzz, showInput } from '../../bench/fuzz/fuzz.js';
import { describeSoak, soak } from '../../bench/soak.js';

const HANG_TIMEOUT_MS = 120_000;

describe('fuzz', () => {
  test('a few thousand inputs crash and hang nothing', async () => {
    const report = await fuzz({
      seed: 16,
      serverInputs: 1500,
      parserInputs: 3000,
      clients: 8,
      shards: 2,
      hangTimeoutMs: HANG_TIMEOUT_MS,
      budgetMs: Infinity,
      configFiles: [],
      log: () => {},
    });
    const summary = describeFuzz(report);
    assert.equal(report.server.stanzas + report.server.streams, 1500, summary);
    assert.deepEqual(Object.values(report.parsers.inputs), [600, 600, 600, 600, 600], summary);
    assert.deepEqual(report.server.crashes, [], summary);
    assert.deepEqual(report.server.hangs, [], summary);
    assert.deepEqual(report.parsers.crashes, [], summary);
  });

  test('an input is the same for the same seed and number', () => {
    assert.equal(showInput(16, 'server:42'), showInput(16, 'server:42'));
    assert.equal(showInput(16, 'parser:7'), showInput(16, 'parser:7'));
    assert.notEqual(showInput(16, 'server:42'), showInput(17, 'server:42'));
    assert.throws(() => showInput(16, 'client:1'), /server:N or parser:N/);
  });
});

describe('soak', () => {
  test('twenty seconds (and ten turns a client) of mixed traffic crash and hang nothing', async () => {
    const report = await soak({
      seconds: 20,
      clients: 8,
      rooms: 3,
      pauseMs: 50,
      // Eight clients' first ten turns hold every kind of action (the choice per turn is fixed).
      minTurns: 10,
      samples: 4,
      shards: 2,
      hangTimeoutMs: HANG_TIMEOUT_MS,
      configFiles: [],
      log: () => {},
    });
    const summary = describeSoak(report);
    assert.equal(report.samples.length, 4, summary);
    for (const action of ['message', 'nick', 'rejoin', 'configure', 'reconnect'] as const) {
      assert.ok(report.actions[action] > 0, `${action} happened: ${summary}`);
    }
    assert.deepEqual(report.crashes, [], summary);
    assert.deepEqual(report.hangs, [], summary);
    // Figures, not assertions: only that the drift of each half's mean was computed.
    assert.equal(typeof report.rssMeanGrowthPercent, 'number', summary);
    assert.match(summary, /rss mean over the first half after warm-up [\d.]+ MiB, over the second [\d.]+ MiB/);
  });
});
