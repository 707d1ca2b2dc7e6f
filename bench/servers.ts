// The servers `conclave bench compare` starts: each from its configuration in
// bench/peers/ (placeholders filled in), in a fresh temporary directory, on a
// free loopback port, as a direct child process so that its PID is the server's.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadClient } from './load-client.js';
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
  pid: number;
  port: number;
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
  return { pid: child.pid!, port, command: `${envText}${shown}`, stop };
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

export const SERVER_KINDS: readonly ServerKind[] = [
  {
    name: 'conclave',
    description: 'Conclave from this tree (dist/), bench/peers/conclave.yaml',
    template: 'conclave.yaml',
    version: () => {
      const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
        version: string;
      };
      try {
        const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
        return `${version} (${commit})`;
      } catch {
        return version;
      }
    },
    unavailable: () => null,
    start: ({ pin, durability }) =>
      launch('conclave', pin, (directory, port) => {
        const config = join(directory, 'conclave.yaml');
        writeFileSync(
          config,
          render('conclave.yaml', {
            PORT: String(port),
            DATA_DIR: directory,
            DOMAIN: BENCH_DOMAIN,
            MUC_DOMAIN: BENCH_MUC_DOMAIN,
            DURABILITY: durability,
          }),
        );
        return { executable: process.execPath, args: [CONCLAVE_MAIN, 'start', '--config', config] };
      }),
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
