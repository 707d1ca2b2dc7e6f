// Test support: the user's seed scansion scripts (kept in test/fixtures/seeds/,
// so that a plain clone runs them too), run one at a time against any server,
// and what the 2018 revision's known first divergence looks like.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runScripts, type RunOptions, type ScriptResult } from '../../src/scansion/runner.js';

// From dist/test/helpers/ up to the repository, where the sources of the tests are.
export const SEEDS = fileURLToPath(new URL('../../../test/fixtures/seeds/', import.meta.url));

/** The four that describe today's Prosody behaviour. */
export const PASSING_SEEDS = [
  'muc_affiliation_notify.scs',
  'muc_members_only_deregister.scs',
  'muc_presence_probe.scs',
  'muc_show_offline.scs',
];

export async function runSeed(name: string, options: RunOptions): Promise<ScriptResult> {
  const { results } = await runScripts([SEEDS + name], options);
  assert.equal(results.length, 1);
  return results[0];
}

/**
 * muc_register_2018.scs, an older revision of muc_show_offline.scs, must fail
 * exactly at its first known divergence: Prosody (and Conclave) tells the
 * owner about a non-occupant's new affiliation before acknowledging the change.
 */
export function assertRegister2018Divergence(result: ScriptResult): void {
  assert.equal(result.passed, false);
  const failure = result.failure!;
  // Line 59 is "Romeo receives:" expecting the result of iq member1; the
  // newer script (muc_show_offline.scs) expects the message first.
  assert.equal(failure.line, 59, JSON.stringify(failure, null, 2));
  assert.match(failure.received ?? '', /^<message/);
  assert.match(failure.received ?? '', /affiliation='member'/);
  assert.match(failure.expected ?? '', /^<iq/);
}
