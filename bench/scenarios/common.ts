// What every scenario shares: the server under test, the generator pool, the
// meter that reads server, generator and machine CPU around a measured phase,
// and putting clients into rooms.

import { randomBytes } from 'node:crypto';
import { GeneratorPool } from '../generator-pool.js';
import { monotonicMicros } from '../latency.js';
import type { ServerAddress } from '../load-client.js';
import { sampleNats, trafficBetween, type NatsSample, type NatsTraffic } from '../nats-traffic.js';
import { machineBusySeconds, threadCpuSeconds, treeCpuSeconds, treeRssKiB } from '../server-probe.js';

export interface BenchTarget extends ServerAddress {
  /**
   * The server's processes, for their CPU and memory: one, or a cluster's
   * nodes and nats-server, all counted as the server. Empty when unknown
   * (then those figures are missing).
   */
  serverProcesses: readonly ServerProcess[];
  /** nats-server's monitoring URL, for what crosses between a cluster's nodes. */
  natsMonitor?: string;
}

export interface ServerProcess {
  name: string;
  pid: number;
}

export interface ScenarioContext {
  target: BenchTarget;
  /** Number of generator processes. */
  generators: number;
  log(line: string): void;
}

/** Resources used during one measured phase. */
export interface ResourceUsage {
  wallSeconds: number;
  serverCpuSeconds: number | null;
  generatorCpuSeconds: number;
  /** Machine CPU used by neither: other processes running meanwhile. */
  otherCpuSeconds: number | null;
  serverRssKiB: number | null;
  /**
   * The server's threads that used at least 1% of a core, busiest first, in
   * cores (CPU seconds per second): the busiest one is the server's ceiling,
   * however many cores the machine has. Null when the server's CPU is unknown.
   */
  serverThreads: ThreadUsage[] | null;
  /** Each server process's CPU seconds, when the server is several (a cluster). */
  serverProcesses?: ProcessUsage[];
  /** What crossed nats-server, for a cluster with its monitoring URL known. */
  nats?: NatsTraffic;
}

export interface ProcessUsage {
  name: string;
  cpuSeconds: number | null;
}

export interface ThreadUsage {
  thread: string;
  cores: number;
}

export class Meter {
  private constructor(
    private readonly context: ScenarioContext,
    private readonly pool: GeneratorPool,
    private readonly startedAt: number,
    /** Each server process's CPU seconds so far, in the order of `serverProcesses`. */
    private readonly processCpu: (number | null)[],
    private readonly generatorCpu: number,
    private readonly machineBusy: number,
    private readonly serverThreads: Map<string, number> | null,
    private readonly nats: NatsSample | null,
  ) {}

  static async start(context: ScenarioContext, pool: GeneratorPool): Promise<Meter> {
    const generatorCpu = await pool.cpuSeconds();
    const nats = await natsSample(context);
    return new Meter(
      context,
      pool,
      monotonicMicros(),
      processCpuSeconds(context),
      generatorCpu,
      machineBusySeconds(),
      serverThreadCpu(context),
      nats,
    );
  }

  async stop(): Promise<ResourceUsage> {
    const machineBusy = machineBusySeconds() - this.machineBusy;
    const processCpuNow = processCpuSeconds(this.context);
    const threadsNow = serverThreadCpu(this.context);
    const natsNow = this.nats && (await natsSample(this.context));
    const wallSeconds = (monotonicMicros() - this.startedAt) / 1e6;
    const generatorCpuSeconds = (await this.pool.cpuSeconds()) - this.generatorCpu;
    const processes = this.context.target.serverProcesses.map(({ name }, index) => {
      const before = this.processCpu[index] ?? null;
      const after = processCpuNow[index] ?? null;
      return { name, cpuSeconds: before === null || after === null ? null : round(after - before, 2) };
    });
    const serverCpu = sumOf(processes.map((process) => process.cpuSeconds));
    return {
      wallSeconds: round(wallSeconds, 3),
      serverCpuSeconds: serverCpu === null ? null : round(serverCpu, 2),
      generatorCpuSeconds: round(generatorCpuSeconds, 2),
      otherCpuSeconds: serverCpu === null ? null : round(Math.max(0, machineBusy - serverCpu - generatorCpuSeconds), 2),
      serverRssKiB: serverRssKiB(this.context),
      serverThreads: threadsNow === null || this.serverThreads === null ? null : threadUsage(this.serverThreads, threadsNow, wallSeconds),
      ...(processes.length > 1 && { serverProcesses: processes }),
      ...(this.nats && natsNow && { nats: trafficBetween(this.nats, natsNow) }),
    };
  }
}

/** Every server thread's CPU seconds; with several processes, each label names its process. */
function serverThreadCpu(context: ScenarioContext): Map<string, number> | null {
  const { serverProcesses } = context.target;
  if (serverProcesses.length === 0) return null;
  if (serverProcesses.length === 1) return threadCpuSeconds(serverProcesses[0]!.pid);
  const threads = new Map<string, number>();
  for (const { name, pid } of serverProcesses) {
    for (const [thread, seconds] of threadCpuSeconds(pid)) threads.set(`${name} ${thread}`, seconds);
  }
  return threads;
}

function processCpuSeconds(context: ScenarioContext): (number | null)[] {
  return context.target.serverProcesses.map(({ pid }) => treeCpuSeconds(pid));
}

function natsSample(context: ScenarioContext): Promise<NatsSample | null> {
  const monitor = context.target.natsMonitor;
  return monitor === undefined ? Promise.resolve(null) : sampleNats(monitor);
}

/** Each thread's CPU between two readings, in cores; threads born meanwhile count from zero. */
function threadUsage(before: Map<string, number>, after: Map<string, number>, wallSeconds: number): ThreadUsage[] {
  const threads: ThreadUsage[] = [];
  for (const [thread, seconds] of after) {
    const cores = (seconds - (before.get(thread) ?? 0)) / wallSeconds;
    if (cores >= 0.01) threads.push({ thread, cores: round(cores, 2) });
  }
  return threads.sort((a, b) => b.cores - a.cores);
}

/** The busiest thread's share of the server's CPU (0..1), or null when unknown. */
export function busiestThreadShare(usage: ResourceUsage): number | null {
  const busiest = usage.serverThreads?.[0];
  if (busiest === undefined || usage.serverCpuSeconds === null || usage.serverCpuSeconds < 0.05) return null;
  return round((busiest.cores * usage.wallSeconds) / usage.serverCpuSeconds, 2);
}

/**
 * Work per second divided by the busiest thread's cores: the rate at which
 * that thread would be saturated, the server's ceiling whatever its cores.
 */
export function ceilingPerSecond(perSecond: number, usage: ResourceUsage): number | null {
  const busiest = usage.serverThreads?.[0];
  return busiest === undefined || busiest.cores < 0.05 ? null : round(perSecond / busiest.cores);
}

/** "server threads: main 0.64, io-1 0.30, … (busiest 56% of the server's CPU)", for log lines. */
export function describeThreads(usage: ResourceUsage): string {
  if (usage.serverThreads === null) return '';
  const listed = usage.serverThreads.map(({ thread, cores }) => `${thread} ${cores}`).join(', ');
  const share = busiestThreadShare(usage);
  return `server threads (cores): ${listed}${share === null ? '' : ` (busiest ${Math.round(share * 100)}% of the server's CPU)`}`;
}

export function serverRssKiB(context: ScenarioContext): number | null {
  return sumOf(context.target.serverProcesses.map(({ pid }) => treeRssKiB(pid)));
}

/** The sum, or null when there is nothing to sum or a value is unknown. */
function sumOf(values: (number | null)[]): number | null {
  if (values.length === 0 || values.includes(null)) return null;
  return (values as number[]).reduce((total, value) => total + value, 0);
}

/** Starts the generator processes with usernames unique to this run. */
export function startGenerators(context: ScenarioContext): GeneratorPool {
  return GeneratorPool.start(context.generators, {
    server: context.target,
    userPrefix: `b${randomBytes(3).toString('hex')}u`,
  });
}

/** Room JIDs unique to this run, so a repeated run against one server starts from empty rooms. */
export function roomNames(context: ScenarioContext, count: number): string[] {
  const run = randomBytes(3).toString('hex');
  return Array.from({ length: count }, (_, index) => `bench${run}r${index}@${context.target.mucDomain}`);
}

/**
 * Puts `occupants` clients into each room (client id = room index × occupants +
 * seat). The first client of each room creates it and unlocks it before the
 * others come, so that setup does not measure retries against locked rooms.
 */
export async function populateRooms(pool: GeneratorPool, rooms: readonly string[], occupants: number): Promise<void> {
  const seats = rooms.flatMap((room, index) =>
    Array.from({ length: occupants }, (_, seat) => ({ id: index * occupants + seat, room })),
  );
  for (const wave of [seats.filter((_, i) => i % occupants === 0), seats.filter((_, i) => i % occupants !== 0)]) {
    const entered = await pool.enter(wave, monotonicMicros());
    if (entered.failed > 0) {
      throw new Error(`${entered.failed} of ${wave.length} clients could not join: ${entered.errors.join('; ')}`);
    }
  }
}

/** Idle time after a warm-up or a measured storm, for the server to finish closing its sessions. */
const WARMUP_SETTLE_MS = 1000;

/**
 * An unmeasured storm before a measured one, the same for every server, so
 * that the measurement sees a server (and generator processes) past JIT
 * warm-up and first allocations: the clients enter wave by wave (each wave all
 * at once), then leave, disconnect, and the server settles for a moment.
 * Failures are logged, not fatal: the measured storm reports its own.
 */
export async function warmUp(
  context: ScenarioContext,
  pool: GeneratorPool,
  waves: readonly { id: number; room: string }[][],
): Promise<void> {
  const ids = waves.flat().map(({ id }) => id);
  context.log(`warm-up: ${ids.length} clients, unmeasured`);
  let failed = 0;
  for (const wave of waves) failed += (await pool.enter(wave, monotonicMicros())).failed;
  if (failed > 0) context.log(`warm-up: ${failed} joins failed`);
  await settleAfter(context, pool, ids);
}

/** The clients leave their rooms and disconnect, and the server settles for a moment. Failures are logged. */
export async function settleAfter(context: ScenarioContext, pool: GeneratorPool, ids: number[]): Promise<void> {
  const failed = await pool.exit(ids);
  if (failed > 0) context.log(`${failed} of ${ids.length} clients failed to leave`);
  await sleep(WARMUP_SETTLE_MS);
}

/** Waits until the receivers have counted `expected` deliveries of a step, or the time is up. */
export async function awaitDeliveries(pool: GeneratorPool, step: number, expected: number, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline && (await pool.delivered(step)) < expected) await sleep(100);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function round(value: number, decimals = 0): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

/**
 * "n1 31%, n2 28%, n3 27%, nats-server 9%; NATS: n1 1.2k → 0.8k msgs/s, …", for
 * a server of several processes (a cluster); empty for one process.
 */
export function describeProcesses(usage: ResourceUsage): string {
  if (!usage.serverProcesses) return '';
  const share = (seconds: number | null): string => (seconds === null ? '?' : `${Math.round((seconds / usage.wallSeconds) * 100)}%`);
  const cpu = usage.serverProcesses.map(({ name, cpuSeconds }) => `${name} ${share(cpuSeconds)}`).join(', ');
  const rate = (count: number): number => round(count / usage.wallSeconds);
  const nats = usage.nats?.nodes.map(
    (node) => `${node.node} ${rate(node.inMsgs)} → ${rate(node.outMsgs)} msgs/s, ${rate(node.inBytes / 1024)} → ${rate(node.outBytes / 1024)} KiB/s`,
  );
  return `server processes (CPU, % of a core): ${cpu}` + (nats ? `; NATS published → received: ${nats.join('; ')}` : '');
}

/** Per server CPU-second, or null when the server's CPU is unknown or too small to divide by. */
export function perServerCpuSecond(count: number, usage: ResourceUsage): number | null {
  return usage.serverCpuSeconds === null || usage.serverCpuSeconds < 0.05 ? null : round(count / usage.serverCpuSeconds);
}
