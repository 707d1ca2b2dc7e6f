// The fuzzer and the soak, small: a few thousand inputs against a server and
// the parsers, and a short soak, each with zero crashes and hangs. Nothing here
// asserts a time or a memory size (the machine running the tests is busy); the
// hang timeout is only how long an answer may take before it counts as missing.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
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

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

/** Runs `conclave bench ARGS` and sends it SIGINT once its log matches `ready`; resolves with its exit code and output. */
async function interrupted(args: string[], ready: RegExp): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    const before = stderr;
    stderr += chunk.toString();
    if (!ready.test(before) && ready.test(stderr)) child.kill('SIGINT');
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/** Whether the server a run started (its log names the PID) is gone. */
function serverGone(stderr: string): boolean {
  const pid = Number(/conclave pid (\d+)/.exec(stderr)![1]);
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

describe('^C', () => {
  test('during bench fuzz prints the report of what ran and exits 130, its server stopped', async () => {
    // Interrupted at its first progress line, a twentieth of the way.
    const run = await interrupted(['fuzz', '--server-inputs', '200000', '--parser-inputs', '200000', '--clients', '2', '--shards', '1'], /fuzz: server \d+\//);
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stdout, /^fuzz seed \d+: \d+ inputs in \d+ s \(interrupted\), 0 finding\(s\)/, run.stdout + run.stderr);
    assert.match(run.stdout, /server: [1-9]\d* stanzas/);
    assert.ok(serverGone(run.stderr));
  });

  test('during bench soak prints the report of what ran and exits 130, its server stopped', async () => {
    const run = await interrupted(['soak', '--minutes', '600', '--clients', '2', '--rooms', '1', '--samples', '100000', '--shards', '1'], /soak: \d+ s: rss/);
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stdout, /^soak: \d+ s \(interrupted\), 2 clients over 1 rooms; [1-9]\d* message/, run.stdout + run.stderr);
    assert.match(run.stdout, /0 crash\(es\), 0 hang\(s\)/);
    assert.ok(serverGone(run.stderr));
  });
});
