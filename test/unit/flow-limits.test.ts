// The front end's flow-control arithmetic: token buckets and failed-login pacing.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { LoginPacing } from '../../src/frontend/login-pacing.js';
import { TokenBucket } from '../../src/frontend/token-bucket.js';

test('a token bucket lets a burst through and makes the excess wait in proportion', () => {
  const bucket = new TokenBucket({ bytes_per_second: 1000, stanzas_per_second: 10, burst_seconds: 2 });
  assert.equal(bucket.charge(2000, 20), 0);
  // Some milliseconds of refill may have passed: the wait is at most the debt's full time.
  const wait = bucket.charge(1000, 0);
  assert.ok(wait > 0 && wait <= 1000, `waits ${wait} ms`);
  assert.ok(bucket.charge(0, 30) > 2000, 'the stanza debt weighs too');
});

test('a zero rate is no limit', () => {
  const bucket = new TokenBucket({ bytes_per_second: 0, stanzas_per_second: 0, burst_seconds: 1 });
  assert.equal(bucket.charge(1e9, 1e6), 0);
});

test('failed logins wait longer with each failure of the account or address, up to the maximum', () => {
  const settings = loadConfig({ overrides: { auth: { failure_delay_ms: 100, failure_delay_max_ms: 1000 } } });
  const pacing = new LoginPacing(settings);
  const delays = [1, 2, 3, 4, 5].map(() => pacing.failed('romeo@localhost', '192.0.2.1'));
  assert.deepEqual(delays, [100, 200, 400, 800, 1000]);
  // Another address, same account: the account's count decides.
  assert.equal(pacing.failed('romeo@localhost', '192.0.2.2'), 1000);
  // Another account from a fresh address starts afresh; a success forgets the account's failures.
  assert.equal(pacing.failed('juliet@localhost', '192.0.2.3'), 100);
  pacing.succeeded('romeo@localhost');
  assert.equal(pacing.failed('romeo@localhost', '192.0.2.4'), 100);
});
