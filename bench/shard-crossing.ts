// Micro-benchmark: what it costs a stanza to cross from the main thread to a
// shard worker and back, by batch size. The shard runs the echo fixture, so
// the figures are the runtime's own overhead (structured clone, revive,
// serialization, the port, the turn-batching) with next to no room work.
// It prints figures and asserts nothing.
//
//   npm run bench:crossing

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import type { Delivery } from '../src/runtime/protocol.js';
import { ShardPool } from '../src/runtime/shard-pool.js';
import { el } from '../src/xml/element.js';
import { ECHO_SHARDS } from '../test/fixtures/echo-shard.js';

const BATCH_SIZES = [1, 10, 100, 1000];
/** Stanzas per measurement, so that small batches run enough rounds to be measured. */
const STANZAS_PER_RUN = 50_000;
const ROOMS = 50;
const SUSTAINED_TURNS = 200;

let echoed = 0;
let wake: (() => void) | undefined;
let target = 0;

function deliver(deliveries: Delivery[]): void {
  for (const delivery of deliveries) echoed += delivery.to.length;
  if (wake !== undefined && echoed >= target) {
    const resume = wake;
    wake = undefined;
    resume();
  }
}

function echoesReached(count: number): Promise<void> {
  target = count;
  return echoed >= count ? Promise.resolve() : new Promise((resolve) => (wake = resolve));
}

let sequence = 0;
function dispatchTurn(pool: ShardPool, size: number): void {
  for (let i = 0; i < size; i++) {
    const n = sequence++;
    pool.dispatch(
      el(
        'message',
        { from: `user${n % ROOMS}@localhost/bench`, to: `room${n % ROOMS}@conference.localhost`, id: `m${n}`, type: 'groupchat' },
        el('body', {}, 'Hello, room; this is a short message of typical size.'),
      ),
    );
  }
}

/** Round trips: one batch per turn, the next sent once every echo of the previous one is back. */
async function roundTrips(pool: ShardPool, batch: number, stanzas: number): Promise<number> {
  const start = performance.now();
  for (let sent = 0; sent < stanzas; sent += batch) {
    dispatchTurn(pool, batch);
    await echoesReached(echoed + batch);
  }
  return performance.now() - start;
}

/** Throughput: a batch every turn without waiting for echoes, then wait for all of them. */
async function sustained(pool: ShardPool, batch: number, turns: number): Promise<number> {
  const start = performance.now();
  const expected = echoed + batch * turns;
  for (let turn = 0; turn < turns; turn++) {
    dispatchTurn(pool, batch);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await echoesReached(expected);
  return performance.now() - start;
}

const dataDir = mkdtempSync(join(tmpdir(), 'conclave-bench-crossing-'));
const settings = loadConfig({ overrides: { data_dir: dataDir, log_level: 'silent', muc: { shards: 1 } } });
const pool = await ShardPool.start(settings, createLogger('silent'), deliver, ECHO_SHARDS);
try {
  await roundTrips(pool, 100, 20_000); // warm-up: JIT on both sides
  console.log(`Shard crossing, main thread → 1 shard worker (echo) → main thread; node ${process.version}`);
  console.log('');
  console.log('round trips (next batch sent when the previous one is back)');
  console.log('batch  stanzas   µs/stanza   µs/batch   stanzas/s');
  for (const batch of BATCH_SIZES) {
    const stanzas = Math.max(batch * 20, STANZAS_PER_RUN);
    const ms = await roundTrips(pool, batch, stanzas);
    const perStanza = (ms * 1000) / stanzas;
    console.log(
      `${String(batch).padStart(5)}  ${String(stanzas).padStart(7)}  ${perStanza.toFixed(2).padStart(10)}  ` +
        `${(perStanza * batch).toFixed(1).padStart(9)}  ${Math.round(stanzas / (ms / 1000)).toLocaleString('en').padStart(10)}`,
    );
  }
  console.log('');
  console.log(`sustained (a batch every turn for ${SUSTAINED_TURNS} turns, not waiting for echoes)`);
  console.log('batch  stanzas   µs/stanza   stanzas/s');
  for (const batch of BATCH_SIZES.slice(1)) {
    const stanzas = batch * SUSTAINED_TURNS;
    const ms = await sustained(pool, batch, SUSTAINED_TURNS);
    console.log(
      `${String(batch).padStart(5)}  ${String(stanzas).padStart(7)}  ${((ms * 1000) / stanzas).toFixed(2).padStart(10)}  ` +
        `${Math.round(stanzas / (ms / 1000)).toLocaleString('en').padStart(10)}`,
    );
  }
} finally {
  await pool.close();
  rmSync(dataDir, { recursive: true, force: true });
}
