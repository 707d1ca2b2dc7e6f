// The HTTP listener against a real server: /health and /ready, /metrics
// scraped as Prometheus would while clients chat in rooms, and the admin
// login that /status asks for off loopback.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MucTestClient } from '../helpers/muc-client.js';
import { accountCommand, RawClient, startTestServer, type TestServer } from '../helpers/server.js';

const ROOM = 'lobby@conference.localhost';

async function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  return { status: response.status, body: await response.text() };
}

/** The value of one sample line (`name{labels} value`) of a Prometheus text exposition; 0 when absent. */
function sample(metrics: string, series: string): number {
  const line = metrics.split('\n').find((candidate) => candidate.startsWith(series + ' '));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** Scrapes until `done` holds for the exposition (the shards report once a second). */
async function scrapeUntil(port: number, done: (metrics: string) => boolean): Promise<string> {
  for (;;) {
    const { body } = await get(port, '/metrics');
    if (done(body)) return body;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('HTTP listener under load', () => {
  let server: TestServer;
  const clients: MucTestClient[] = [];

  before(async () => {
    server = await startTestServer({ http: { enabled: true, port: 0 }, muc: { shards: 2 } });
  });
  after(async () => {
    for (const client of clients) await client.client.close();
    await server.close();
  });

  it('is live and ready once started', async () => {
    assert.notEqual(server.httpPort, 0);
    assert.deepEqual(await get(server.httpPort, '/health'), { status: 200, body: '{"live":true}\n' });
    const ready = await get(server.httpPort, '/ready');
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body), { ready: true, checks: { shards: true, clients: true, component: true, cluster: true, not_closing: true } });
  });

  it('shows counters change while clients chat in a room', async () => {
    const before = (await get(server.httpPort, '/metrics')).body;
    for (const name of ['ann', 'bob', 'cat']) {
      const client = await MucTestClient.login(server.port, name);
      if (clients.length === 0) await client.createRoom(ROOM, name);
      else await client.join(ROOM, name);
      clients.push(client);
    }
    const messages = 5;
    for (let index = 0; index < messages; index++) {
      clients[0].client.send(`<message to='${ROOM}' type='groupchat'><body>hello ${index}</body></message>`);
    }
    // Every occupant receives every message: then the server has counted them.
    for (const client of clients) {
      for (let index = 0; index < messages; index++) await client.client.next((stanza) => stanza.getChildText('body') === `hello ${index}`);
    }
    const metrics = await scrapeUntil(server.httpPort, (body) => body.includes('thread="shard-0"') && body.includes('thread="shard-1"'));
    const messagesIn = 'conclave_stanzas_total{direction="in",transport="c2s",kind="message"}';
    const messagesOut = 'conclave_stanzas_total{direction="out",transport="c2s",kind="message"}';
    assert.equal(sample(metrics, messagesIn) - sample(before, messagesIn), messages);
    assert.ok(sample(metrics, messagesOut) - sample(before, messagesOut) >= messages * clients.length);
    assert.ok(sample(metrics, 'conclave_deliveries_total') > sample(before, 'conclave_deliveries_total'));
    assert.equal(sample(metrics, 'conclave_connections{transport="c2s",state="bound"}'), clients.length);
    const shard = server.shards.shardOf(ROOM);
    assert.equal(sample(metrics, `conclave_occupants{shard="${shard}"}`), clients.length);
    assert.equal(sample(metrics, `conclave_rooms{shard="${shard}"}`), 1);
    assert.ok(sample(metrics, 'conclave_thread_busy_seconds_total{thread="main"}') > 0);
    assert.ok(sample(metrics, 'conclave_thread_busy_seconds_total{thread="shard-0"}') > 0);
    assert.ok(sample(metrics, 'conclave_lmdb_size_bytes') > 0);
    assert.match(metrics, /^conclave_thread_event_loop_lag_seconds\{thread="shard-1"\} [\d.e-]+$/m);
    assert.match(metrics, /^conclave_shard_in_flight\{shard="0"\} \d+$/m);
  });

  it('exports every metric the Grafana dashboard queries', async () => {
    const dashboard = await readFile(new URL('../../../ops/grafana/conclave.json', import.meta.url), 'utf8');
    const queried = new Set(dashboard.match(/\b(conclave|process|nodejs)_[a-z_]+/g));
    assert.ok(queried.size > 10);
    const metrics = (await get(server.httpPort, '/metrics')).body;
    for (const name of queried) assert.match(metrics, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is exported`);
  });

  it('answers 404 with what there is, and refuses other methods', async () => {
    assert.equal((await get(server.httpPort, '/nothing')).status, 404);
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/metrics`, { method: 'POST' });
    assert.equal(response.status, 405);
  });
});

describe('HTTP listener configuration', () => {
  it('refuses a busy port with a config error naming the keys', async () => {
    const first = await startTestServer({ http: { enabled: true, port: 0 } });
    try {
      await assert.rejects(startTestServer({ http: { enabled: true, port: first.httpPort } }), (err: Error) => {
        assert.equal(err.constructor.name, 'ConfigError');
        assert.match(err.message, new RegExp(`^Cannot listen on 127\\.0\\.0\\.1:${first.httpPort} \\(http\\.host, http\\.port\\): the port is already in use`));
        assert.equal((err as Error & { key?: string }).key, 'http.port');
        return true;
      });
    } finally {
      await first.close();
    }
  });
});

describe('HTTP listener readiness', () => {
  it('is live but not ready while the component link is not authenticated', async () => {
    // Nothing listens on port 1: the link keeps retrying.
    const server = await startTestServer({ http: { enabled: true, port: 0 }, component: { enabled: true, port: 1, secret: 's3cret' } });
    try {
      assert.equal((await get(server.httpPort, '/health')).status, 200);
      const ready = await get(server.httpPort, '/ready');
      assert.equal(ready.status, 503);
      assert.equal(JSON.parse(ready.body).checks.component, false);
      assert.equal(sample((await get(server.httpPort, '/metrics')).body, 'conclave_component_link_up{link="0"}'), 0);
    } finally {
      await server.close();
    }
  });
});

describe('HTTP listener off loopback', () => {
  let dataDir: string;
  let server: TestServer;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'conclave-http-'));
    const config = join(dataDir, 'conclave.yaml');
    await writeFile(config, `data_dir: ${JSON.stringify(dataDir)}\nlog_level: warn\n`);
    await accountCommand(config, 'adduser', 'admin@localhost', 'sesame');
    await accountCommand(config, 'adduser', 'user@localhost', 'sesame');
    server = await startTestServer({
      data_dir: dataDir,
      auth: { backend: 'internal' },
      http: { enabled: true, host: '0.0.0.0', port: 0 },
      muc: { admins: ['admin@localhost'] },
    });
  });
  after(async () => {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const basic = (user: string, password: string) => ({ authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') });

  it('lets only a service admin with the right password see /status', async () => {
    const anonymous = await get(server.httpPort, '/status/data');
    assert.equal(anonymous.status, 401);
    assert.equal((await get(server.httpPort, '/status', basic('admin', 'wrong'))).status, 401);
    assert.equal((await get(server.httpPort, '/status', basic('user', 'sesame'))).status, 401);
    assert.equal((await get(server.httpPort, '/status', basic('admin', 'sesame'))).status, 200);
    const data = await get(server.httpPort, '/status/data', basic('admin@localhost', 'sesame'));
    assert.equal(data.status, 200);
    assert.equal(JSON.parse(data.body).threads[0].name, 'main');
    // Prometheus scrapes without a login.
    assert.equal((await get(server.httpPort, '/metrics')).status, 200);
  });

  it('counts failed logins by SASL condition', async () => {
    const series = 'conclave_auth_failures_total{condition="not-authorized"}';
    const before = sample((await get(server.httpPort, '/metrics')).body, series);
    const client = await RawClient.connect(server.port);
    await client.openStream();
    const outcome = await client.authenticatePlain('user', 'wrong');
    assert.equal(outcome.name, 'failure');
    await client.close();
    assert.equal(sample((await get(server.httpPort, '/metrics')).body, series), before + 1);
  });
});
