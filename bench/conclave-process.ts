// Conclave as a child process for the fuzzer and the soak: started from this
// tree's dist/ with a fuzz configuration (plus the operator's, layered over it,
// e.g. to lift rate limits), watched for what counts as a crash: an error in
// its log (a thrown handler, a shard death) or the process exiting.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { treeRssKiB } from './server-probe.js';
import { BENCH_DOMAIN, BENCH_MUC_DOMAIN } from './servers.js';

const CONCLAVE_MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
/** pino's level for `error`: a handler threw, a shard died, a write failed. */
const ERROR_LEVEL = 50;
const STOP_TIMEOUT_MS = 15_000;

type Tree = { [key: string]: unknown };

export interface ServerFinding {
  kind: 'error-log' | 'exit';
  /** The log line (JSON), or how the process ended. */
  detail: string;
}

export interface ConclaveProcess {
  pid: number;
  port: number;
  /** Errors logged and the exit, if it came, in order. */
  readonly findings: ServerFinding[];
  /** Warnings by message, counted (throttling and refusals show up here). */
  readonly warnings: Map<string, number>;
  rssKiB(): number | null;
  alive(): boolean;
  stop(): Promise<void>;
}

/**
 * Starts Conclave with any password accepted on loopback, `shards` workers and
 * the layers of `extraConfigFiles` (YAML) over that, in a scratch data folder.
 */
export async function startConclave(options: { shards: number; admins?: string[]; extraConfigFiles?: string[] }): Promise<ConclaveProcess> {
  const directory = mkdtempSync(join(tmpdir(), 'conclave-fuzz-server-'));
  let config: Tree = {
    domain: BENCH_DOMAIN,
    data_dir: join(directory, 'data'),
    log_level: 'warn',
    client: { host: '127.0.0.1', port: 0 },
    auth: { backend: 'insecure' },
    muc: { domain: BENCH_MUC_DOMAIN, shards: options.shards, admins: options.admins ?? [] },
  };
  for (const file of options.extraConfigFiles ?? []) config = layer(config, parse(readFileSync(file, 'utf8')) as Tree);
  const configFile = join(directory, 'conclave.yaml');
  writeFileSync(configFile, stringify(config));

  // A process group of its own: a ^C at the terminal is the run's to handle (bench/interrupt.ts), not the server's.
  const child = spawn(process.execPath, [CONCLAVE_MAIN, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const findings: ServerFinding[] = [];
  const warnings = new Map<string, number>();
  let stopping = false;
  // The server must not outlive the fuzzer or soak, even when that is killed (SIGTERM) or quit with a second ^C.
  const killChild = (): void => void child.kill('SIGKILL');
  const terminated = (): void => process.exit(143);
  process.once('exit', killChild).once('SIGTERM', terminated);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      process.off('exit', killChild).off('SIGTERM', terminated);
      if (!stopping) findings.push({ kind: 'exit', detail: `exited with ${code ?? signal}` });
      resolve();
    }),
  );
  createInterface({ input: child.stderr }).on('line', (line) => {
    let level = ERROR_LEVEL;
    let message = line;
    try {
      const record = JSON.parse(line) as { level?: number; msg?: string };
      level = record.level ?? ERROR_LEVEL;
      message = record.msg ?? line;
    } catch {
      // Not a log record: something wrote to stderr directly (an uncaught error's trace).
    }
    if (level >= ERROR_LEVEL) findings.push({ kind: 'error-log', detail: line });
    else warnings.set(message, (warnings.get(message) ?? 0) + 1);
  });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const match = /listening on \S+:(\d+)/.exec(line);
      if (match) resolve(Number(match[1]));
    });
    void exited.then(() => reject(new Error(`conclave exited before listening: ${findings.map((f) => f.detail).join('\n')}`)));
  });
  return {
    pid: child.pid!,
    port,
    findings,
    warnings,
    rssKiB: () => treeRssKiB(child.pid!),
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      // A server that does not stop is reported by the caller's own checks; do not wait for it forever.
      const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(killer);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

function layer(base: Tree, over: Tree | null): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over ?? {})) {
    const current = out[key];
    out[key] = isTree(current) && isTree(value) ? layer(current, value) : value;
  }
  return out;
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
