// What an acknowledged write costs in each store a Conclave cluster could
// keep its shared state in (issue 13): LMDB (the single-node store, as a
// reference), NATS JetStream KV and PostgreSQL, each on this machine with a
// scratch directory. The write is what a room actor waits for before it
// acknowledges an affiliation change: one small record, upserted by key.
//
//   npm run bench:store [-- --writes 2000 --writers 16]
//
// One writer measures latency (each write waits for the previous ack, as one
// room does); several writers measure throughput (many rooms at once). It
// needs nats-server and PostgreSQL 15 from Debian; a store whose server is
// missing is reported as skipped. It prints figures and asserts nothing.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { open } from 'lmdb';
import { connect as natsConnect, StorageType } from 'nats';
import pg from 'pg';

interface Store {
  name: string;
  /** Upserts one record and resolves once the store acknowledged it. */
  write(key: string, value: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

interface Figures {
  store: string;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  sequentialPerSecond: number;
  concurrentPerSecond: number;
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

const { values } = parseArgs({
  options: { writes: { type: 'string', default: '2000' }, writers: { type: 'string', default: '16' } },
});
const WRITES = Number(values.writes);
const WRITERS = Number(values.writers);
/** An affiliation entry with a reason: the size of a typical record. */
const RECORD = new TextEncoder().encode(JSON.stringify({ affiliation: 'member', nick: 'romeo', reason: 'Invited by the owner for the meeting' }));

async function measure(store: Store): Promise<Figures> {
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < WRITES; i++) {
    const t0 = performance.now();
    await store.write(`room${i % 100}.user${i}`, RECORD);
    latencies.push(performance.now() - t0);
  }
  const sequentialSeconds = (performance.now() - started) / 1000;
  const concurrentStart = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      for (let i = writer; i < WRITES; i += WRITERS) await store.write(`room${i % 100}.user${i}.c`, RECORD);
    }),
  );
  const concurrentSeconds = (performance.now() - concurrentStart) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!);
  return {
    store: store.name,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: round(latencies[latencies.length - 1]!),
    sequentialPerSecond: Math.round(WRITES / sequentialSeconds),
    concurrentPerSecond: Math.round(WRITES / concurrentSeconds),
  };
}

function lmdbStore(directory: string, flushed: boolean): Store {
  const db = open<Uint8Array, string>({ path: join(directory, flushed ? 'flushed.mdb' : 'committed.mdb') });
  return {
    name: `LMDB, ${flushed ? 'flushed' : 'committed'} (single node)`,
    async write(key, value) {
      await db.put(key, value);
      if (flushed) await db.flushed;
    },
    close: () => db.close(),
  };
}

async function jetStreamStore(directory: string): Promise<Store> {
  const port = await freePort();
  const server = spawn('nats-server', ['-js', '-sd', join(directory, 'jetstream'), '-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  await waitFor(async () => {
    const connection = await natsConnect({ servers: `127.0.0.1:${port}` });
    await connection.close();
  });
  const connection = await natsConnect({ servers: `127.0.0.1:${port}` });
  const kv = await connection.jetstream().views.kv('conclave', { storage: StorageType.File, history: 1 });
  return {
    name: `NATS JetStream KV ${natsVersion()}, file storage, one server`,
    async write(key, value) {
      await kv.put(key, value);
    },
    async close() {
      await connection.close();
      await stopProcess(server);
    },
  };
}

async function postgresStore(directory: string): Promise<Store> {
  const data = join(directory, 'pgdata');
  const port = await freePort();
  chmodSync(directory, 0o777);
  const [initdb, initdbArgs] = asPostgresUser(join(PG_BIN, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'conclave']);
  const created = spawnSync(initdb, initdbArgs, { encoding: 'utf8' });
  if (created.status !== 0) throw new Error(`initdb failed: ${created.stderr}`);
  const [postgres, postgresArgs] = asPostgresUser(join(PG_BIN, 'postgres'), ['-D', data, '-p', String(port), '-k', directory, '-c', 'listen_addresses=127.0.0.1']);
  const server = spawn(postgres, postgresArgs, { stdio: 'ignore' });
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'conclave', database: 'postgres' });
  await waitFor(async () => {
    const probe = new pg.Client({ host: '127.0.0.1', port, user: 'conclave', database: 'postgres' });
    await probe.connect();
    await probe.end();
  });
  await client.connect();
  await client.query('CREATE TABLE kv (key text PRIMARY KEY, value bytea NOT NULL)');
  const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'conclave', database: 'postgres', max: WRITERS });
  return {
    name: `PostgreSQL 15, synchronous_commit on, one server`,
    async write(key, value) {
      await pool.query('INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value', [key, Buffer.from(value)]);
    },
    async close() {
      await pool.end();
      await client.end();
      await stopProcess(server);
    },
  };
}

async function main(): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'conclave-store-bench-'));
  const figures: Figures[] = [];
  const skipped: string[] = [];
  const candidates: [string, () => Promise<Store>, boolean][] = [
    ['LMDB committed', async () => lmdbStore(directory, false), true],
    ['LMDB flushed', async () => lmdbStore(directory, true), true],
    ['NATS JetStream', () => jetStreamStore(directory), spawnSync('nats-server', ['--version']).status === 0],
    ['PostgreSQL', () => postgresStore(directory), existsSync(join(PG_BIN, 'postgres'))],
  ];
  try {
    for (const [name, start, available] of candidates) {
      if (!available) {
        skipped.push(name);
        continue;
      }
      const store = await start();
      try {
        figures.push(await measure(store));
      } finally {
        await store.close();
      }
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
  console.log(`store-latency: ${WRITES} acknowledged upserts of ${RECORD.length} bytes, one writer then ${WRITERS} writers`);
  console.log('| store | ack p50 ms | ack p99 ms | ack max ms | writes/s, one writer | writes/s, ' + WRITERS + ' writers |');
  console.log('|---|---|---|---|---|---|');
  for (const f of figures) console.log(`| ${f.store} | ${f.p50Ms} | ${f.p99Ms} | ${f.maxMs} | ${f.sequentialPerSecond} | ${f.concurrentPerSecond} |`);
  if (skipped.length > 0) console.log(`skipped (server not installed): ${skipped.join(', ')}`);
}

/** PostgreSQL refuses to run as root: as root, it runs as Debian's postgres user. */
function asPostgresUser(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

function natsVersion(): string {
  return /v[\d.]+/.exec(spawnSync('nats-server', ['--version'], { encoding: 'utf8' }).stdout)?.[0] ?? '';
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(attempt: () => Promise<void>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

await main();
