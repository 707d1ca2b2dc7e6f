// The servers `conclave bench compare` starts: each from its configuration in
// bench/peers/ (placeholders filled in), in a fresh temporary directory, on a
// free loopback port, as a direct child process so that its PID is the server's.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, RequestStrategy } from 'nats';
import { LoadClient, type Endpoint } from './load-client.js';
import type { BenchTarget, ServerProcess } from './scenarios/common.js';
import { clusterSubjects } from '../src/cluster/connection.js';
import type { NodeStatus } from '../src/cluster/node.js';
import { DEFAULT_SUBJECT_PREFIX } from '../src/config/schema.js';
import type { Durability } from '../src/store/database.js';

const PEERS_DIRECTORY = fileURLToPath(new URL('../../bench/peers/', import.meta.url));
const CONCLAVE_MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const LIMIT_SERVER = fileURLToPath(new URL('./limit-server.js', import.meta.url));
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

export const BENCH_DOMAIN = 'localhost';
export const BENCH_MUC_DOMAIN = 'conference.localhost';
export const BENCH_PASSWORD = 'bench';

/**
 * `lifted`: the throttles that would measure a limit rather than the engine
 * are off (bench/peers/README.md lists them). `stock`: each server keeps the
 * protection it ships with (Prosody's mod_limits, ejabberd's c2s shaper), for
 * workloads that measure that protection. Conclave's bench configuration lifts
 * nothing, so it runs the same either way.
 */
export type ServerLimits = 'lifted' | 'stock';

export interface RunningServer {
  /** Its processes: one, or a cluster's nodes and nats-server. */
  processes: ServerProcess[];
  port: number;
  /** A cluster's client ports, the clients going to each in turn. */
  spread?: Endpoint[];
  /** A cluster's nats-server monitoring URL. */
  natsMonitor?: string;
  /** The command line that started it, with the configuration file's path. */
  command: string;
  stop(): Promise<void>;
}

export interface ServerKind {
  name: string;
  /** What this entry is, for the report. */
  description: string;
  /** The configuration template in bench/peers/, if any. */
  template: string | null;
  version(): string;
  /** Whether it can run on this machine; a reason when not. */
  unavailable(): string | null;
  /**
   * `durability`: Conclave's storage.durability; the others ignore it.
   * `mobile`: what mobile clients use is on: Prosody loads mod_smacks and
   * mod_csi_simple (Conclave always offers both).
   */
  start(options: { pin: boolean; limits: ServerLimits; durability: Durability; mobile: boolean }): Promise<RunningServer>;
}

interface Launch {
  executable: string;
  args: string[];
  env?: Record<string, string>;
}

/** Where a scenario's clients go to reach a server started here, and what to measure. */
export function benchTarget(server: RunningServer): BenchTarget {
  return {
    host: '127.0.0.1',
    port: server.port,
    domain: BENCH_DOMAIN,
    mucDomain: BENCH_MUC_DOMAIN,
    auth: 'plain',
    password: BENCH_PASSWORD,
    spread: server.spread,
    serverProcesses: server.processes,
    natsMonitor: server.natsMonitor,
  };
}

/** Fills a template's @NAME@ placeholders. */
function render(template: string, values: Record<string, string>): string {
  return readFileSync(join(PEERS_DIRECTORY, template), 'utf8').replace(/@([A-Z_]+)@/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`${template}: no value for ${whole}`);
    return value;
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function installedVersion(debianPackage: string): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', debianPackage], { encoding: 'utf8' }).trim();
  } catch {
    return 'not installed';
  }
}

function onPath(executable: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${executable}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a configured server and waits until a client can log in and join a
 * room: listening alone does not mean that the MUC service is up.
 */
async function launch(
  name: string,
  pin: boolean,
  prepare: (directory: string, port: number) => Launch,
): Promise<RunningServer> {
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), `conclave-bench-${name}-`));
  let launchSpec: Launch;
  try {
    launchSpec = prepare(directory, port);
  } catch (error) {
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  const { executable, args, env } = launchSpec;
  const argv = pin ? ['taskset', '-c', '0', executable, ...args] : [executable, ...args];
  const logFile = join(directory, 'server.log');
  const log = openSync(logFile, 'a');
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: directory,
    env: { ...process.env, HOME: directory, ...env },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    await terminate(child, exited);
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(port, child);
  } catch (error) {
    const tail = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
    await stop();
    throw new Error(`${name} did not start: ${(error as Error).message}\n${tail}`);
  }
  const shown = argv.map((arg) => (/[\s"']/.test(arg) ? `'${arg}'` : arg)).join(' ');
  const envText = Object.entries(env ?? {}).map(([key, value]) => `${key}=${value} `).join('');
  return { processes: [{ name, pid: child.pid! }], port, command: `${envText}${shown}`, stop };
}

async function waitUntilReady(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = new Error('timed out');
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode})`);
    const probe = new LoadClient(
      { host: '127.0.0.1', port, domain: BENCH_DOMAIN, mucDomain: BENCH_MUC_DOMAIN, auth: 'plain', password: BENCH_PASSWORD },
      'readiness',
      'readiness',
      { delivered: () => {} },
      () => {},
    );
    try {
      await probe.connect();
      await probe.join(`readiness@${BENCH_MUC_DOMAIN}`);
      probe.close();
      return;
    } catch (error) {
      lastError = error as Error;
      probe.destroy();
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  throw lastError;
}

async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function prosody(name: string, generationalGc: boolean): ServerKind {
  return {
    name,
    description: generationalGc
      ? 'Prosody from Debian, bench/peers/prosody.cfg.lua, generational Lua GC'
      : "Prosody from Debian, bench/peers/prosody.cfg.lua with Prosody's default (incremental) GC, for reference",
    template: 'prosody.cfg.lua',
    version: () => installedVersion('prosody'),
    unavailable: () => (onPath('prosody') ? null : 'prosody is not installed (apt-get install prosody)'),
    start: ({ pin, limits, mobile }) =>
      launch(name, pin, (directory, port) => {
        const config = join(directory, 'prosody.cfg.lua');
        writeFileSync(
          config,
          render('prosody.cfg.lua', {
            PORT: String(port),
            DATA_DIR: directory,
            DOMAIN: BENCH_DOMAIN,
            MUC_DOMAIN: BENCH_MUC_DOMAIN,
            AUTH: 'insecure',
            GC: generationalGc ? 'gc = { mode = "generational" }' : '-- gc: Prosody\'s default',
            // Debian's stock setting: 10 kB/s per client, reading paused beyond it.
            LIMITS_MODULE: (limits === 'stock' ? ' "limits";' : '') + (mobile ? ' "smacks"; "csi_simple";' : ''),
            LIMITS: limits === 'stock' ? 'limits = { c2s = { rate = "10kb/s" }; s2sin = { rate = "30kb/s" } }' : '-- limits: lifted',
          }),
        );
        return { executable: 'prosody', args: ['-F', '--config', config] };
      }),
  };
}

function conclaveVersion(): string {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    return `${version} (${commit})`;
  } catch {
    return version;
  }
}

/** Conclave from bench/peers/conclave.yaml, with `extra` (YAML) appended: a cluster node's section. */
function launchConclave(name: string, pin: boolean, durability: Durability, extra: string): Promise<RunningServer> {
  return launch(name, pin, (directory, port) => {
    const config = join(directory, 'conclave.yaml');
    const values = { PORT: String(port), DATA_DIR: directory, DOMAIN: BENCH_DOMAIN, MUC_DOMAIN: BENCH_MUC_DOMAIN, DURABILITY: durability };
    writeFileSync(config, render('conclave.yaml', values) + extra);
    return { executable: process.execPath, args: [CONCLAVE_MAIN, 'start', '--config', config] };
  });
}

/**
 * nats-server (JetStream, monitoring on) and Conclave nodes on it, one after
 * the other, ready once each node sees all of them: before that, a room's
 * owner could still change under the workload.
 */
async function launchCluster(pin: boolean, durability: Durability, names: readonly string[]): Promise<RunningServer> {
  const nats = await launchNats(pin);
  const nodes: RunningServer[] = [];
  const stop = async (): Promise<void> => {
    for (const node of nodes.reverse()) await node.stop();
    await nats.stop();
  };
  try {
    for (const node of names) {
      const section = `\ncluster:\n  node: ${node}\n  nats: { servers: ["${nats.url}"] }\n`;
      nodes.push(await launchConclave(node, pin, durability, section));
    }
    await membersSeeEachOther(nats.url, names);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    processes: [...nodes.flatMap((node) => node.processes), ...nats.processes],
    port: nodes[0]!.port,
    spread: nodes.map((node) => ({ host: '127.0.0.1', port: node.port })),
    natsMonitor: nats.monitor,
    command: [nats.command, ...nodes.map((node) => node.command)].join(' ; '),
    stop,
  };
}

const CLUSTER_NODES = ['n1', 'n2', 'n3'];

function natsServerMissing(): string | null {
  return onPath('nats-server') ? null : 'nats-server is not installed (apt-get install nats-server)';
}

/** nats-server on free loopback ports, its store in a scratch folder, ready once its monitoring endpoint answers. */
export async function launchNats(pin: boolean): Promise<RunningServer & { url: string; monitor: string }> {
  const [port, monitorPort] = [await freePort(), await freePort()];
  const directory = mkdtempSync(join(tmpdir(), 'conclave-bench-nats-'));
  const args = ['-js', '-sd', directory, '-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort)];
  const argv = pin ? ['taskset', '-c', '0', 'nats-server', ...args] : ['nats-server', ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    await terminate(child, exited);
    rmSync(directory, { recursive: true, force: true });
  };
  const monitor = `http://127.0.0.1:${monitorPort}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`nats-server exited (${child.exitCode ?? child.signalCode})`);
    }
    const healthy = await fetch(`${monitor}/healthz`).then((response) => response.ok, () => false);
    if (healthy) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error('nats-server did not start');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { processes: [{ name: 'nats-server', pid: child.pid! }], port, url: `nats://127.0.0.1:${port}`, monitor, command: argv.join(' '), stop };
}

/** Waits until every node answers the cluster's status request naming all of `nodes` as members. */
async function membersSeeEachOther(natsUrl: string, nodes: readonly string[]): Promise<void> {
  const wanted = [...nodes].sort().join(' ');
  const nats = await connect({ servers: natsUrl, name: 'bench' });
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const views: string[] = [];
      try {
        for await (const reply of await nats.requestMany(clusterSubjects(DEFAULT_SUBJECT_PREFIX).status, '', { strategy: RequestStrategy.Timer, maxWait: 500 })) {
          views.push([...reply.json<NodeStatus>().members].sort().join(' '));
        }
      } catch {
        // No node answered yet.
      }
      if (views.length === nodes.length && views.every((view) => view === wanted)) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`the cluster's nodes did not all see ${wanted}`);
  } finally {
    await nats.close();
  }
}

export const SERVER_KINDS: readonly ServerKind[] = [
  {
    name: 'conclave',
    description: 'Conclave from this tree (dist/), bench/peers/conclave.yaml',
    template: 'conclave.yaml',
    version: conclaveVersion,
    unavailable: () => null,
    start: ({ pin, durability }) => launchConclave('conclave', pin, durability, ''),
  },
  {
    name: 'conclave-cluster',
    description:
      'three Conclave nodes from this tree, bench/peers/conclave.yaml with a cluster: section, on one nats-server ' +
      '(JetStream); clients spread over the nodes in turn; server CPU is all four processes',
    template: 'conclave.yaml',
    version: conclaveVersion,
    unavailable: natsServerMissing,
    start: ({ pin, durability }) => launchCluster(pin, durability, CLUSTER_NODES),
  },
  {
    name: 'conclave-cluster-1',
    description:
      'one Conclave node with a cluster: section on nats-server: the JetStream store and the cluster code with nothing ' +
      'crossing between nodes, to tell the store from the crossings',
    template: 'conclave.yaml',
    version: conclaveVersion,
    unavailable: natsServerMissing,
    start: ({ pin, durability }) => launchCluster(pin, durability, CLUSTER_NODES.slice(0, 1)),
  },
  prosody('prosody', true),
  prosody('prosody-default-gc', false),
  {
    name: 'ejabberd',
    description: 'ejabberd from Debian as a bare Erlang VM, bench/peers/ejabberd.yml',
    template: 'ejabberd.yml',
    version: () => installedVersion('ejabberd'),
    unavailable: () => (onPath('erl') && installedVersion('ejabberd') !== 'not installed' ? null : 'ejabberd is not installed (apt-get install ejabberd)'),
    start: ({ pin, limits }) =>
      launch('ejabberd', pin, (directory, port) => {
        const config = join(directory, 'ejabberd.yml');
        writeFileSync(
          config,
          render('ejabberd.yml', {
            PORT: String(port),
            DOMAIN: BENCH_DOMAIN,
            MUC_DOMAIN: BENCH_MUC_DOMAIN,
            CLIENT_SHAPER: limits === 'stock' ? 'c2s_shaper' : 'none',
          }),
        );
        return {
          executable: 'erl',
          args: ['-noshell', '-noinput', '-mnesia', 'dir', `"${join(directory, 'mnesia')}"`, '-s', 'ejabberd'],
          env: {
            EJABBERD_CONFIG_PATH: config,
            EJABBERD_LOG_PATH: join(directory, 'ejabberd.log'),
            ERL_LIBS: '/usr/lib/x86_64-linux-gnu',
          },
        };
      }),
  },
  {
    name: 'limit',
    description: 'the reference limit server (bench/limit-server.ts): raw fan-out, no XML, no MUC logic',
    template: null,
    version: () => `node ${process.versions.node}`,
    unavailable: () => null,
    start: ({ pin }) =>
      launch('limit', pin, (_directory, port) => ({ executable: process.execPath, args: [LIMIT_SERVER, '--port', String(port)] })),
  },
];

export function serverKind(name: string): ServerKind | undefined {
  return SERVER_KINDS.find((kind) => kind.name === name);
}
