// `conclave bench`: run one benchmark scenario against a running XMPP server,
// compare Conclave with Prosody, ejabberd and the limit server, or run the
// limit server itself. The benchmark lives in bench/; this is its command line.

import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { compare, COMPARE_SERVERS, COMPARE_WORKLOADS } from '../../bench/compare.js';
import { startLimitServer } from '../../bench/limit-server.js';
import { describeFuzz, findings, fuzz, showInput } from '../../bench/fuzz/fuzz.js';
import { readRun, writeReport } from '../../bench/report/markdown.js';
import { describeThreads, type ResourceUsage, type ServerProcess } from '../../bench/scenarios/common.js';
import { describeSoak, soak } from '../../bench/soak.js';
import { exitCode, onInterrupt } from '../../bench/interrupt.js';
import { SCENARIOS, scenarioNamed } from '../../bench/scenarios/index.js';
import { parametersOf, type Scenario } from '../../bench/scenarios/scenario.js';
import { findListeningPid } from '../../bench/server-probe.js';
import { parseSpread } from './scansion.js';

const TARGET_OPTIONS = {
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '5222' },
  domain: { type: 'string', default: 'localhost' },
  'muc-domain': { type: 'string' },
  auth: { type: 'string', default: 'plain' },
  password: { type: 'string', default: 'bench' },
  'server-pid': { type: 'string' },
  spread: { type: 'string' },
  'nats-monitor': { type: 'string' },
  generators: { type: 'string' },
  quick: { type: 'boolean', default: false },
  json: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

function usage(): string {
  const scenarios = SCENARIOS.map((scenario) => {
    const parameters = Object.entries(scenario.parameters).map(
      ([name, spec]) => `      --${kebab(name).padEnd(16)} ${spec.help} (${spec.full}; --quick: ${spec.quick})`,
    );
    return [`  ${scenario.name.padEnd(15)} ${scenario.summary}`, ...parameters].join('\n');
  });
  return [
    'usage: conclave bench SCENARIO [options]     run a scenario against a running server',
    '       conclave bench compare [--quick] [--servers LIST] [--scenarios LIST] [--set PARAMETER=VALUE]... [--out DIR] [--pin]',
    '       conclave bench limit-server [--host H] [--port P]',
    '       conclave bench report DIR                 rewrite DIR/README.md and charts from DIR/results.json',
    '       conclave bench fuzz [--seed N] [--server-inputs N] [--parser-inputs N] [--clients N] [--shards N]',
    '                           [--hang-timeout SECONDS] [--minutes N] [--config FILE]... [--json FILE] [--show server:N|parser:N]',
    '                           fuzz a Conclave it starts, and its parsers in process; exit 1 on any crash or hang',
    '       conclave bench soak [--minutes N] [--clients N] [--rooms N] [--pause-ms N] [--samples N] [--shards N]',
    '                           [--hang-timeout SECONDS] [--config FILE]... [--json FILE]',
    '                           mixed traffic against a Conclave it starts; RSS and latency drift; exit 1 on any crash or hang',
    '',
    'Server options: --host 127.0.0.1 --port 5222 --domain localhost --muc-domain conference.DOMAIN',
    '  --auth plain|anonymous --password bench --server-pid PID,... (default: whoever listens on the port(s))',
    '  --spread HOST:PORT,... (a cluster: client N connects to the Nth in turn, instead of --host/--port)',
    "  --nats-monitor URL (a cluster: nats-server's monitoring endpoint, e.g. http://127.0.0.1:8222, for NATS traffic per node)",
    `  --generators N (generator processes, default ${defaultGenerators()}) --quick (small sizes) --json FILE`,
    '',
    'Scenarios:',
    ...scenarios,
    '',
    `compare: --servers ${COMPARE_SERVERS.join(',')} (--quick leaves out prosody-default-gc;`,
    '         conclave-cluster, three nodes on nats-server, and conclave-cluster-1, one, run only when named)',
    `         --scenarios ${COMPARE_WORKLOADS.map((workload) => workload.name).join(',')}`,
    '         --set floodSeconds=30 (repeatable): a scenario parameter, in every workload that has it',
  ].join('\n');
}

export async function main(args: string[]): Promise<number> {
  try {
    return await dispatch(args);
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`);
    // A mistyped option is a usage error, like everywhere else in the CLI.
    return (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  }
}

async function dispatch(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  // `bench fuzz --help` too: every subcommand's options are in the one usage.
  if (name === undefined || name === 'help' || args.includes('--help') || args.includes('-h')) {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === 'compare') return runCompare(rest);
  if (name === 'limit-server') return runLimitServer(rest);
  if (name === 'report') return rewriteReport(rest);
  if (name === 'fuzz') return runFuzz(rest);
  if (name === 'soak') return runSoak(rest);
  const scenario = scenarioNamed(name);
  if (!scenario) {
    console.error(`unknown scenario "${name}"\n\n${usage()}`);
    return 2;
  }
  return runScenario(scenario, rest);
}

async function runScenario(scenario: Scenario<string>, args: string[]): Promise<number> {
  const parameterOptions = Object.fromEntries(
    Object.keys(scenario.parameters).map((parameter) => [kebab(parameter), { type: 'string' as const }]),
  );
  const { values } = parseArgs({ args, options: { ...TARGET_OPTIONS, ...parameterOptions }, strict: true });
  const text = values as Record<string, string | boolean | undefined>;
  const given: Record<string, number> = {};
  for (const parameter of Object.keys(scenario.parameters)) {
    const value = text[kebab(parameter)];
    if (typeof value === 'string') given[parameter] = number(value, kebab(parameter));
  }
  if (values.auth !== 'plain' && values.auth !== 'anonymous') throw new Error('--auth is plain or anonymous');
  const port = number(values.port, 'port');
  const spread = values.spread === undefined ? undefined : parseSpread(values.spread);
  const serverProcesses = serverProcessesOf(values['server-pid'], spread?.map((endpoint) => endpoint.port) ?? [port]);
  if (serverProcesses.length === 0) console.error('bench: server process not found; server CPU and memory will be missing (--server-pid)');
  const context = {
    target: {
      host: values.host,
      port,
      domain: values.domain,
      mucDomain: values['muc-domain'] ?? `conference.${values.domain}`,
      auth: values.auth,
      password: values.password,
      spread,
      serverProcesses,
      natsMonitor: values['nats-monitor'],
    },
    generators: values.generators !== undefined ? number(values.generators, 'generators') : defaultGenerators(),
    log: (line: string) => console.error(line),
  } as const;
  const result = await scenario.run(context, parametersOf(scenario, values.quick, given));
  console.log(scenario.describe(result));
  // Scenarios with one measured phase; fan-out logs its threads at each step.
  const usage = (result as { usage?: ResourceUsage }).usage;
  if (usage?.serverThreads) console.log(describeThreads(usage));
  if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  return 0;
}

async function runCompare(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: 'boolean', default: false },
      servers: { type: 'string' },
      scenarios: { type: 'string', default: COMPARE_WORKLOADS.map((workload) => workload.name).join(',') },
      out: { type: 'string' },
      pin: { type: 'boolean', default: false },
      generators: { type: 'string' },
      set: { type: 'string', multiple: true, default: [] },
    },
    strict: true,
  });
  const overrides: Record<string, number> = {};
  for (const assignment of values.set) {
    const match = /^([a-zA-Z][a-zA-Z0-9]*)=(.*)$/.exec(assignment);
    if (!match) throw new Error(`--set takes PARAMETER=VALUE, not "${assignment}"`);
    overrides[match[1]!] = number(match[2]!, `set ${match[1]}`);
  }
  const directory = await compare({
    quick: values.quick,
    servers: values.servers?.split(',') ?? null,
    workloads: values.scenarios.split(','),
    outDirectory: values.out,
    pin: values.pin,
    generators: values.generators !== undefined ? number(values.generators, 'generators') : defaultGenerators(),
    overrides,
    commandLine: ['conclave', 'bench', 'compare', ...args].join(' '),
    log: (line) => console.error(line),
  });
  console.log(`report: ${directory}/README.md`);
  return 0;
}

async function runFuzz(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      seed: { type: 'string', default: String(Date.now() % 1_000_000) },
      'server-inputs': { type: 'string', default: '200000' },
      'parser-inputs': { type: 'string', default: '800000' },
      clients: { type: 'string', default: '16' },
      shards: { type: 'string', default: '2' },
      'hang-timeout': { type: 'string', default: '60' },
      minutes: { type: 'string', default: '600' },
      config: { type: 'string', multiple: true, default: [] },
      json: { type: 'string' },
      show: { type: 'string' },
    },
    strict: true,
  });
  const seed = number(values.seed, 'seed');
  if (values.show !== undefined) {
    console.log(showInput(seed, values.show));
    return 0;
  }
  const interruption = onInterrupt((line) => console.error(line));
  const report = await fuzz({
    seed,
    serverInputs: number(values['server-inputs'], 'server-inputs'),
    parserInputs: number(values['parser-inputs'], 'parser-inputs'),
    clients: number(values.clients, 'clients'),
    shards: number(values.shards, 'shards'),
    hangTimeoutMs: number(values['hang-timeout'], 'hang-timeout') * 1000,
    budgetMs: number(values.minutes, 'minutes') * 60_000,
    configFiles: values.config,
    log: (line) => console.error(line),
    stop: interruption.signal,
  }).finally(() => interruption.dispose());
  console.log(describeFuzz(report));
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  return exitCode(interruption, findings(report) === 0 ? 0 : 1);
}

async function runSoak(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      minutes: { type: 'string', default: '30' },
      clients: { type: 'string', default: '40' },
      rooms: { type: 'string', default: '8' },
      'pause-ms': { type: 'string', default: '100' },
      samples: { type: 'string', default: '30' },
      shards: { type: 'string', default: '2' },
      'hang-timeout': { type: 'string', default: '60' },
      config: { type: 'string', multiple: true, default: [] },
      json: { type: 'string' },
    },
    strict: true,
  });
  const interruption = onInterrupt((line) => console.error(line));
  const report = await soak({
    seconds: number(values.minutes, 'minutes') * 60,
    clients: number(values.clients, 'clients'),
    rooms: number(values.rooms, 'rooms'),
    pauseMs: number(values['pause-ms'], 'pause-ms'),
    samples: number(values.samples, 'samples'),
    shards: number(values.shards, 'shards'),
    hangTimeoutMs: number(values['hang-timeout'], 'hang-timeout') * 1000,
    configFiles: values.config,
    log: (line) => console.error(line),
    stop: interruption.signal,
  }).finally(() => interruption.dispose());
  console.log(describeSoak(report));
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  return exitCode(interruption, report.crashes.length + report.hangs.length === 0 ? 0 : 1);
}

function rewriteReport(args: string[]): number {
  const [directory] = args;
  if (directory === undefined) throw new Error('usage: conclave bench report DIR');
  writeReport(directory, readRun(directory));
  console.log(`report: ${directory}/README.md`);
  return 0;
}

async function runLimitServer(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '5222' } },
    strict: true,
  });
  const server = await startLimitServer(values.host, number(values.port, 'port'));
  console.error(`limit server listening on ${values.host}:${values.port}`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      server.close();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

/**
 * The processes given (`--server-pid A,B`), or those listening on the ports;
 * none when one is not found, rather than a CPU figure missing a node.
 */
function serverProcessesOf(given: string | undefined, ports: number[]): ServerProcess[] {
  if (given !== undefined) {
    return given.split(',').map((text, index) => ({ name: `server ${index + 1}`, pid: number(text, 'server-pid') }));
  }
  const pids = ports.map((port) => findListeningPid(port));
  if (pids.includes(null)) return [];
  return pids.map((pid, index) => ({ name: ports.length === 1 ? 'server' : `:${ports[index]}`, pid: pid! }));
}

/** Two generator processes on a 2-core machine, more on bigger ones, leaving a core or so to the server. */
function defaultGenerators(): number {
  return Math.max(2, Math.floor(availableParallelism() / 2));
}

function number(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`--${name} must be a number, not "${text}"`);
  return value;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
