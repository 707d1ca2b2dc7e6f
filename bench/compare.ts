// `conclave bench compare`: the same workloads against Conclave, Prosody,
// ejabberd and the limit server, one server at a time and a fresh server for
// every workload (an overloaded peer stays slow for a while), then a report
// under bench/results/<date>/. Workloads go round the servers in turn, so that
// background load drifting during a long run spreads over all of them.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine, type MachineDescription } from './report/machine.js';
import { writeReport } from './report/markdown.js';
import { scenarioNamed, type ScenarioResult } from './scenarios/index.js';
import { parametersOf } from './scenarios/scenario.js';
import { loadAverage } from './server-probe.js';
import {
  benchTarget,
  SERVER_KINDS,
  serverKind,
  type RunningServer,
  type ServerLimits,
} from './servers.js';
import type { Durability } from '../src/store/database.js';

const RESULTS_DIRECTORY = fileURLToPath(new URL('../../bench/results/', import.meta.url));

export interface Workload {
  name: string;
  title(parameters: Record<string, number>): string;
  scenario: string;
  /** Parameters that differ from the scenario's defaults, full and quick. */
  full: Record<string, number>;
  quick: Record<string, number>;
  /** The figure others measured for Prosody and ejabberd on this machine type: a target, never an assertion. */
  targets: { prosody: string; ejabberd: string } | null;
  /**
   * Which limits the servers run with: the engine with its throttles lifted
   * (the default), or each with its stock protection (bench/peers/README.md).
   */
  limits?: ServerLimits;
  /** Conclave's storage.durability (default: flushed, as its default configuration). */
  durability?: Durability;
  /** Only these of the chosen servers run it (default: all of them). */
  servers?: readonly string[];
  /** The servers offer what mobile clients use (stream management, client state indication); default false. */
  mobile?: boolean;
}

export const COMPARE_WORKLOADS: readonly Workload[] = [
  {
    name: 'fanout-100x10',
    title: (p) => `Fan-out, ${p.rooms} rooms × ${p.occupants}`,
    scenario: 'fanout',
    full: { rooms: 100, occupants: 10 },
    quick: { rooms: 20, occupants: 10 },
    targets: { prosody: '~5.1k', ejabberd: '~24.6k' },
  },
  {
    name: 'fanout-1x500',
    title: (p) => `Fan-out, ${p.rooms} room × ${p.occupants}`,
    scenario: 'fanout',
    full: { rooms: 1, occupants: 500 },
    quick: { rooms: 1, occupants: 100 },
    targets: { prosody: '~8.9k', ejabberd: '~38.8k' },
  },
  {
    name: 'join-storm',
    title: (p) => `Join storm, ${p.clients} clients into rooms of ${p.roomSize}`,
    scenario: 'join-storm',
    full: { clients: 2000, roomSize: 10 },
    quick: { clients: 400, roomSize: 10 },
    targets: { prosody: '~400', ejabberd: '~1.7k' },
  },
  {
    name: 'large-room',
    title: (p) => `Large-room join, ${p.clients} clients into one room`,
    scenario: 'large-room',
    full: { clients: 500 },
    quick: { clients: 150 },
    targets: { prosody: '~24 s', ejabberd: '~5.9 s' },
  },
  {
    name: 'idle-memory',
    title: (p) => `Idle memory, ${p.connections} clients in rooms of ${p.roomSize}`,
    scenario: 'idle-memory',
    full: { connections: 2000, roomSize: 10 },
    quick: { connections: 400, roomSize: 10 },
    targets: { prosody: '~40 KiB', ejabberd: '~85 KiB' },
  },
  {
    name: 'overload',
    title: (p) =>
      `Overload, one user floods a room for ${p.floodSeconds} s (${p.floodBodyBytes} B messages); ` +
      `${p.observers} observers elsewhere, ${p.readers} readers in the room`,
    scenario: 'overload',
    full: {},
    quick: {},
    targets: null,
    // A flood is what a server's own limits are for: here each runs with them.
    limits: 'stock',
  },
  ...(['flushed', 'committed'] as const).map(
    (durability): Workload => ({
      name: durability === 'flushed' ? 'acked-writes' : 'acked-writes-committed',
      title: (p) => `Acknowledged writes, ${p.writers} owners changing affiliations, storage.durability: ${durability}`,
      scenario: 'acked-writes',
      full: {},
      quick: {},
      targets: null,
      durability,
      // What Conclave's acknowledgement costs; the peers' bench configurations keep nothing on disk.
      servers: ['conclave'],
    }),
  ),
  {
    name: 'mobile-reconnect',
    title: (p) =>
      `Mobile reconnect, ${p.clients} clients in one room, half of them inactive (XEP-0352): all drop and come back, ` +
      'the inactive half resuming (XEP-0198), then nobody resuming',
    scenario: 'mobile-reconnect',
    full: {},
    quick: {},
    targets: null,
    mobile: true,
    // ejabberd and the limit server are left out: the comparison asked for is with Prosody's mod_smacks and mod_csi_simple.
    servers: ['conclave', 'prosody'],
  },
  {
    name: 'presence-churn',
    title: (p) =>
      `Presence churn, ${p.rooms} rooms × ${p.occupants} at ${p.deliveryRate} deliveries/s, ${p.churnRate} rejoins/s`,
    scenario: 'presence-churn',
    full: {},
    quick: {},
    targets: null,
  },
];

export const COMPARE_SERVERS: readonly string[] = SERVER_KINDS.map((kind) => kind.name);
/** The clusters are asked for by name (--servers conclave,conclave-cluster): they would lengthen every run by a fifth each. */
const DEFAULT_SERVERS = COMPARE_SERVERS.filter((name) => !name.startsWith('conclave-cluster'));
/** prosody-default-gc is a reference figure; the quick run leaves it out. */
const QUICK_SERVERS = ['conclave', 'prosody', 'ejabberd', 'limit'];

export interface CompareOptions {
  quick: boolean;
  servers: string[] | null;
  workloads: string[];
  outDirectory: string | undefined;
  pin: boolean;
  generators: number;
  /** Parameter values that replace the workloads' own, in every workload whose scenario has the parameter. */
  overrides: Record<string, number>;
  commandLine: string;
  log(line: string): void;
}

export interface ServerEntry {
  name: string;
  description: string;
  version: string;
  template: string | null;
  command: string | null;
  skipped: string | null;
}

export interface WorkloadEntry {
  name: string;
  title: string;
  scenario: string;
  parameters: Record<string, number>;
  targets: Workload['targets'];
  /** Absent in results written before workloads could choose: lifted. */
  limits?: ServerLimits;
}

export interface Measurement {
  workload: string;
  server: string;
  result: ScenarioResult | null;
  error: string | null;
}

export interface CompareRun {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  pinned: boolean;
  generators: number;
  commandLine: string;
  machine: MachineDescription;
  loadBefore: [number, number, number];
  loadAfter: [number, number, number];
  servers: ServerEntry[];
  workloads: WorkloadEntry[];
  measurements: Measurement[];
}

export async function compare(options: CompareOptions): Promise<string> {
  const startedAt = new Date();
  const directory =
    options.outDirectory ?? join(RESULTS_DIRECTORY, startedAt.toISOString().slice(0, 10) + (options.quick ? '-quick' : ''));
  mkdirSync(directory, { recursive: true });
  if (options.pin) {
    // The generator (this process and the ones it forks) on CPU 1, each server on CPU 0.
    execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  }
  const kinds = (options.servers ?? (options.quick ? QUICK_SERVERS : DEFAULT_SERVERS)).map((name) => {
    const kind = serverKind(name);
    if (!kind) throw new Error(`unknown server "${name}" (known: ${COMPARE_SERVERS.join(', ')})`);
    return kind;
  });
  const workloads = options.workloads.map((name) => {
    const workload = COMPARE_WORKLOADS.find((candidate) => candidate.name === name);
    const scenario = workload && scenarioNamed(workload.scenario);
    if (!workload || !scenario) throw new Error(`unknown workload "${name}"`);
    const given = options.quick ? workload.quick : workload.full;
    const overrides = Object.entries(options.overrides).filter(([name]) => name in scenario.parameters);
    const parameters = parametersOf(scenario, options.quick, { ...given, ...Object.fromEntries(overrides) });
    return { workload, scenario, parameters };
  });
  for (const name of Object.keys(options.overrides)) {
    if (!workloads.some(({ scenario }) => name in scenario.parameters)) {
      throw new Error(`--set ${name}: no workload chosen has that parameter`);
    }
  }
  const run: CompareRun = {
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    quick: options.quick,
    pinned: options.pin,
    generators: options.generators,
    commandLine: options.commandLine,
    machine: describeMachine(),
    loadBefore: loadAverage(),
    loadAfter: [0, 0, 0],
    servers: kinds.map((kind) => ({
      name: kind.name,
      description: kind.description,
      version: kind.version(),
      template: kind.template,
      command: null,
      skipped: kind.unavailable(),
    })),
    workloads: workloads.map(({ workload, parameters }) => ({
      name: workload.name,
      title: workload.title(parameters),
      scenario: workload.scenario,
      parameters,
      targets: workload.targets,
      limits: workload.limits ?? 'lifted',
    })),
    measurements: [],
  };
  const save = (): void => writeFileSync(join(directory, 'results.json'), `${JSON.stringify(run, null, 2)}\n`);

  // Interrupted, stop the server under test rather than leave it running.
  let current: RunningServer | null = null;
  const interrupt = (): void => {
    void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  for (const { workload, scenario, parameters } of workloads) {
    for (const [index, kind] of kinds.entries()) {
      const entry = run.servers[index]!;
      if (entry.skipped || (workload.servers && !workload.servers.includes(kind.name))) continue;
      options.log(`== ${workload.name} on ${kind.name}`);
      const measurement: Measurement = { workload: workload.name, server: kind.name, result: null, error: null };
      try {
        const server = await kind.start({
          pin: options.pin,
          limits: workload.limits ?? 'lifted',
          durability: workload.durability ?? 'flushed',
          mobile: workload.mobile ?? false,
        });
        current = server;
        entry.command = server.command;
        try {
          measurement.result = await scenario.run(
            {
              target: benchTarget(server),
              generators: options.generators,
              log: (line) => options.log(`   ${line}`),
            },
            parameters,
          );
          options.log(`   ${scenario.describe(measurement.result)}`);
        } finally {
          current = null;
          await server.stop();
        }
      } catch (error) {
        measurement.error = (error as Error).message;
        options.log(`   failed: ${measurement.error}`);
      }
      run.measurements.push(measurement);
      save();
    }
  }
  process.off('SIGINT', interrupt);
  process.off('SIGTERM', interrupt);
  run.finishedAt = new Date().toISOString();
  run.loadAfter = loadAverage();
  save();
  writeReport(directory, run);
  return directory;
}
