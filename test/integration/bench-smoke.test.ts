// The benchmark suite end to end, small: a tiny fan-out against the limit
// server, through forked generator processes, into a report. It checks the shape
// of what comes out, never a timing: the machine running the tests is busy.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { CompareRun, WorkloadEntry } from '../../bench/compare.js';
import { describeMachine } from '../../bench/report/machine.js';
import { writeReport } from '../../bench/report/markdown.js';
import { fanout, type FanoutResult } from '../../bench/scenarios/fanout.js';
import { ackedWrites } from '../../bench/scenarios/acked-writes.js';
import { joinStorm } from '../../bench/scenarios/join-storm.js';
import { overload } from '../../bench/scenarios/overload.js';
import { type ScenarioContext } from '../../bench/scenarios/common.js';
import type { ScenarioResult } from '../../bench/scenarios/index.js';
import { parametersOf } from '../../bench/scenarios/scenario.js';
import { benchTarget, serverKind } from '../../bench/servers.js';
import { StanzaScanner } from '../../bench/stanza-scanner.js';
import { openDatabase } from '../../src/store/database.js';
import { RoomStore } from '../../src/store/rooms.js';
import { startTestServer } from '../helpers/server.js';

const LIMIT_SERVER = fileURLToPath(new URL('../../bench/limit-server.js', import.meta.url));

function startLimitServer(): Promise<{ process: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [LIMIT_SERVER, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`limit server exited with ${code}`)));
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      const match = /listening on [\d.]+:(\d+)/.exec(text);
      if (match) resolve({ process: child, port: Number(match[1]) });
    });
  });
}

/** Two generator processes against a limit server, quietly. */
function contextFor(server: { process: ChildProcess; port: number }): ScenarioContext {
  return {
    target: {
      host: '127.0.0.1',
      port: server.port,
      domain: 'localhost',
      mucDomain: 'conference.localhost',
      auth: 'plain',
      password: 'bench',
      serverProcesses: [{ name: 'limit', pid: server.process.pid! }],
    },
    generators: 2,
    log: () => {},
  };
}

/** A comparison run of one workload measured on the limit server, for writing its report. */
function runOnTheLimitServer(workload: WorkloadEntry, result: ScenarioResult): CompareRun {
  const now = new Date().toISOString();
  return {
    startedAt: now,
    finishedAt: now,
    quick: true,
    pinned: false,
    generators: 2,
    commandLine: 'bench-smoke',
    machine: describeMachine(),
    loadBefore: [0, 0, 0],
    loadAfter: [0, 0, 0],
    servers: [{ name: 'limit', description: 'limit', version: 'test', template: null, command: 'limit', skipped: null }],
    workloads: [workload],
    measurements: [{ workload: workload.name, server: 'limit', result, error: null }],
  };
}

describe('bench: fan-out against the limit server', () => {
  let server: { process: ChildProcess; port: number };
  let result: FanoutResult;

  before(async () => {
    server = await startLimitServer();
    const parameters = parametersOf(fanout, true, {
      rooms: 2,
      occupants: 3,
      startRate: 60,
      rateFactor: 2,
      maxRate: 120,
      stepSeconds: 0.5,
      warmupSeconds: 0.2,
      drainSeconds: 5,
    });
    result = await fanout.run(
      contextFor(server),
      parameters,
    );
  });
  after(() => {
    server.process.kill();
  });

  test('reports each step with counts, latency and CPU', () => {
    assert.equal(result.scenario, 'fanout');
    assert.ok(result.steps.length >= 1 && result.steps.length <= 2);
    for (const step of result.steps) {
      assert.equal(step.expected, step.sent * 3, 'every message is expected at each of the 3 occupants');
      assert.equal(step.lost, Math.max(0, step.expected - step.delivered));
      assert.ok(step.delivered > 0);
      for (const key of ['count', 'p50', 'p95', 'p99', 'max', 'mean'] as const) assert.equal(typeof step.latency[key], 'number');
      assert.equal(step.latency.count, step.delivered);
      assert.equal(typeof step.usage.serverCpuSeconds, 'number', 'the limit server is a process of ours');
      assert.ok(step.usage.generatorCpuSeconds > 0);
      assert.ok(step.failure === null || step.failure === 'latency' || step.failure === 'loss');
    }
    assert.equal(result.best, result.steps.filter((step) => step.failure === null).at(-1) ?? null);
  });

  test('writes a report with tables and charts', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
    try {
      writeReport(
        directory,
        runOnTheLimitServer({ name: 'fanout-tiny', title: 'Fan-out, 2 rooms × 3', scenario: 'fanout', parameters: result.parameters, targets: null }, result),
      );
      const markdown = await readFile(join(directory, 'README.md'), 'utf8');
      for (const heading of ['## Machine', '## Servers', '## Summary', '## Efficiency', '## Charts', '## Details']) {
        assert.ok(markdown.includes(heading), heading);
      }
      assert.match(markdown, /\| Fan-out, 2 rooms × 3 \| delivered stanzas\/s/);
      for (const chart of ['throughput.svg', 'efficiency.svg', 'latency-fanout-tiny.svg']) {
        assert.match(await readFile(join(directory, chart), 'utf8'), /^<svg xmlns='http:\/\/www.w3.org\/2000\/svg'/);
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('bench: fan-out against a three-node cluster on nats-server', () => {
  test('spreads the clients over the nodes, counts every process as the server, reports NATS traffic per node', async () => {
    const cluster = await serverKind('conclave-cluster')!.start({ pin: false, limits: 'lifted', durability: 'flushed', mobile: false });
    const directory = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
    try {
      assert.deepEqual(cluster.processes.map((process) => process.name), ['n1', 'n2', 'n3', 'nats-server']);
      assert.equal(cluster.spread?.length, 3);
      const parameters = parametersOf(fanout, true, {
        rooms: 2,
        occupants: 6,
        startRate: 60,
        rateFactor: 2,
        maxRate: 60,
        stepSeconds: 0.5,
        warmupSeconds: 0.2,
        drainSeconds: 5,
      });
      const result = await fanout.run({ target: benchTarget(cluster), generators: 2, log: () => {} }, parameters);
      const [step] = result.steps;
      assert.ok(step && step.delivered > 0, JSON.stringify(result.steps));
      assert.equal(typeof step.usage.serverCpuSeconds, 'number');
      assert.deepEqual(step.usage.serverProcesses?.map((process) => process.name), ['n1', 'n2', 'n3', 'nats-server']);
      const sum = step.usage.serverProcesses!.reduce((total, process) => total + process.cpuSeconds!, 0);
      assert.ok(Math.abs(sum - step.usage.serverCpuSeconds!) < 0.05, 'the server CPU is all four processes');
      assert.deepEqual(step.usage.nats?.nodes.map((node) => node.node), ['n1', 'n2', 'n3']);
      // Each room has occupants on all three nodes: its owner sends deliveries to the other two.
      assert.ok(step.usage.nats!.server.inMsgs > 0 && step.usage.nats!.server.outBytes > 0);

      // The report puts the cluster beside the single node (here the same figures under both names).
      const run = runOnTheLimitServer({ name: 'fanout-tiny', title: 'Fan-out, 2 rooms × 6', scenario: 'fanout', parameters, targets: null }, result);
      run.servers = ['conclave', 'conclave-cluster'].map((name) => ({ ...run.servers[0]!, name }));
      run.measurements = run.servers.map(({ name }) => ({ workload: 'fanout-tiny', server: name, result, error: null }));
      writeReport(directory, run);
      const markdown = await readFile(join(directory, 'README.md'), 'utf8');
      assert.match(markdown, /## Cluster: three nodes beside one/);
      // The ratio is 100%, or none when the tiny run used too little CPU to divide by.
      assert.match(markdown, /\| fanout-tiny \| delivered stanzas per server CPU-second[^|]*\|[^|]+\|[^|]+\| (100%|—) \|/);
      assert.match(markdown, /\| offered\/s \| n1 CPU \| n2 CPU \| n3 CPU \| nats-server CPU \| n1 msgs\/s/);
    } finally {
      await cluster.stop();
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('bench: stanza scanner', () => {
  const stream =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' to='localhost'>" +
    "<message to='r@c' type='groupchat'><body>a &gt; b</body></message> " +
    "<presence to='r@c/n' note='1 > 0'/>" +
    '<iq id="1"><query><x/></query></iq></stream:stream>';

  test('finds the same stanzas however the bytes are split', () => {
    const bytes = Buffer.from(stream);
    for (let split = 1; split < bytes.length; split++) {
      const seen: string[] = [];
      const scanner = new StanzaScanner({
        streamHeader: () => seen.push('header'),
        stanza: (buffer, start, end) => seen.push(buffer.toString('utf8', start, end)),
        streamEnd: () => seen.push('end'),
      });
      scanner.push(bytes.subarray(0, split));
      scanner.push(bytes.subarray(split));
      assert.deepEqual(
        seen,
        [
          'header',
          "<message to='r@c' type='groupchat'><body>a &gt; b</body></message>",
          "<presence to='r@c/n' note='1 > 0'/>",
          '<iq id="1"><query><x/></query></iq>',
          'end',
        ],
        `split at ${split}`,
      );
    }
  });
});

describe('bench: repeated join storms against the limit server', () => {
  test('every storm is measured after the previous one left, and the median is the result', async () => {
    const server = await startLimitServer();
    try {
      const result = await joinStorm.run(
        contextFor(server),
        parametersOf(joinStorm, true, { clients: 30, roomSize: 5, warmupClients: 10, storms: 3 }),
      );
      assert.equal(result.storms.length, 3);
      for (const storm of result.storms) {
        assert.equal(storm.joined, 30, 'each storm joins its own 30 clients');
        assert.equal(storm.failed, 0);
      }
      const sorted = result.storms.map((storm) => storm.joinsPerSecond).sort((a, b) => a - b);
      assert.equal(result.joinsPerSecond, sorted[1]);
      assert.equal(result.latency.count, 30);
    } finally {
      server.process.kill();
    }
  });
});

describe('bench: overload against the limit server', () => {
  test('floods one room while observers elsewhere and readers in it measure, and reports it beside its targets', async () => {
    const server = await startLimitServer();
    const directory = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
    try {
      const parameters = parametersOf(overload, true, {
        observers: 2,
        observerRate: 20,
        readers: 2,
        baselineSeconds: 0.5,
        floodSeconds: 0.5,
        floodMessages: 300,
        windowSeconds: 0.25,
        recoverySeconds: 10,
      });
      const result = await overload.run(contextFor(server), parameters);
      assert.equal(result.scenario, 'overload');
      assert.ok(result.floodSent > 0 && result.floodSent <= 300);
      assert.equal(result.readerExpected, result.floodSent * 2);
      assert.ok(result.readerDelivered <= result.readerExpected);
      assert.equal(result.readersDisconnected, 0, 'the limit server drops nobody');
      assert.equal(result.flooderDisconnected, false);
      assert.ok(result.baseline.count > 0 && result.duringFlood.count > 0, JSON.stringify(result));
      assert.equal(typeof result.rssBeforeKiB, 'number', 'the limit server is a process of ours');
      assert.ok(result.rssPeakKiB! >= result.rssBeforeKiB!);
      assert.ok(result.recovery.every((window) => window.startsAfterFloodSeconds >= 0));
      if (result.recoverySeconds !== null) {
        assert.equal(result.recoverySeconds, Math.max(result.observersRecoveredSeconds!, result.backlogDrainedSeconds!));
      }

      writeReport(
        directory,
        runOnTheLimitServer({ name: 'overload', title: 'Overload, tiny', scenario: 'overload', parameters, targets: null, limits: 'stock' }, result),
      );
      const markdown = await readFile(join(directory, 'README.md'), 'utf8');
      assert.match(markdown, /\| Overload, tiny \| others' p99 ms during the flood .*targets: < 50 \/ 0 \/ < 2/);
      assert.match(markdown, /Each server runs with its stock protection/);
    } finally {
      server.process.kill();
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('bench: acknowledged writes against Conclave', () => {
  for (const durability of ['flushed', 'committed'] as const) {
    test(`every affiliation change is acknowledged and each room stored (storage.durability: ${durability})`, async () => {
      const server = await startTestServer({ storage: { durability } });
      try {
        const result = await ackedWrites.run(
          {
            target: {
              host: '127.0.0.1',
              port: server.port,
              domain: 'localhost',
              mucDomain: server.settings.muc.domain,
              auth: 'plain',
              password: 'bench',
              serverProcesses: [],
            },
            generators: 1,
            log: () => {},
          },
          parametersOf(ackedWrites, true, { writers: 2, durationSeconds: 0.3 }),
        );
        assert.equal(result.failed, 0, result.errors.join('; '));
        assert.ok(result.acknowledged >= 2, 'each writer had at least one change acknowledged');
        assert.equal(result.latency.count, result.acknowledged);
        assert.equal(result.acknowledgedPerServerCpuSecond, null, 'no server process given, no CPU figure');
        const database = openDatabase(server.dataDir, durability);
        try {
          assert.equal((await new RoomStore(database).jids()).length, 2, "each writer's room is stored");
        } finally {
          await database.close();
        }
      } finally {
        await server.close();
      }
    });
  }
});
