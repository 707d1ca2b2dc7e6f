// The coordinator's side of the load generator: it forks the generator
// processes, splits each command among them by client id, and merges their
// answers. Several processes, so that on a multi-core machine the generator is
// not the bottleneck of what it measures.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type {
  CommandName,
  EnterResult,
  FloodResult,
  GeneratorCommands,
  GeneratorSetup,
  Request,
  Response,
  TrafficResult,
  WritesResult,
} from './generator-protocol.js';
import { summarizeEncoded, type LatencySummary } from './latency.js';

const WORKER_MODULE = fileURLToPath(new URL('./generator-worker.js', import.meta.url));

export interface EnterSummary {
  succeeded: number;
  failed: number;
  errors: string[];
  latency: LatencySummary;
  lastDoneAt: number;
}

export interface TrafficSummary {
  sent: number;
  /** Seconds from the first generator starting to send to the last one stopping. */
  seconds: number;
  churnCycles: number;
  churnFailed: number;
  churnLatency: LatencySummary;
}

export class GeneratorPool {
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { worker: ChildProcess; resolve(result: unknown): void; reject(error: Error): void }
  >();

  private constructor(private readonly workers: ChildProcess[]) {
    for (const worker of workers) {
      worker.on('message', (response: Response) => {
        const waiter = this.waiting.get(response.id);
        if (!waiter) return;
        this.waiting.delete(response.id);
        if (response.ok) waiter.resolve(response.result);
        else waiter.reject(new Error(`generator: ${response.error}`));
      });
      worker.on('exit', (code) => {
        for (const [id, waiter] of this.waiting) {
          if (waiter.worker !== worker) continue;
          this.waiting.delete(id);
          waiter.reject(new Error(`a generator process exited (code ${code})`));
        }
      });
    }
  }

  static start(processes: number, setup: GeneratorSetup): GeneratorPool {
    const workers = Array.from({ length: Math.max(1, processes) }, () =>
      fork(WORKER_MODULE, [JSON.stringify(setup)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
    return new GeneratorPool(workers);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Connects (and, given a room, joins) clients, all at once. */
  async enter(clients: GeneratorCommands['enter']['args']['clients'], startedAt: number): Promise<EnterSummary> {
    const results = await this.onEach('enter', (index) => ({
      clients: clients.filter(({ id }) => id % this.size === index),
      startedAt,
    }));
    return summarizeEntries(results);
  }

  /** Drops the clients' connections at once and has each connect again: resumed, or logged in and back in its room. */
  async reconnect(ids: readonly number[], startedAt: number): Promise<EnterSummary & { resumed: number }> {
    const results = await this.onEach('reconnect', (index) => ({ clients: ids.filter((id) => id % this.size === index), startedAt }));
    return { ...summarizeEntries(results), resumed: sum(results, (r) => r.resumed) };
  }

  /** Makes clients leave their rooms and disconnect; resolves with the number of leaves that failed. */
  async exit(ids: readonly number[]): Promise<number> {
    const results = await this.onEach('exit', (index) => ({ clients: ids.filter((id) => id % this.size === index) }));
    return sum(results, (r) => r.failed);
  }

  /** Offers groupchat traffic (and churn); the rates are for the whole pool. */
  async traffic(args: GeneratorCommands['traffic']['args']): Promise<TrafficSummary> {
    const share = (rate: number): number => rate / this.size;
    const results = await this.onEach('traffic', () => ({
      ...args,
      messagesPerSecond: share(args.messagesPerSecond),
      churnPerSecond: share(args.churnPerSecond),
    }));
    return {
      sent: sum(results, (r) => r.sent),
      seconds: (Math.max(...results.map((r) => r.stoppedAt)) - Math.min(...results.map((r) => r.startedAt))) / 1e6,
      churnCycles: sum(results, (r) => r.churnCycles),
      churnFailed: sum(results, (r) => r.churnFailed),
      churnLatency: summarizeEncoded(results.map((r: TrafficResult) => r.churnHistogram)),
    };
  }

  /** Floods from every joined client as fast as the server reads; the cap is for the whole pool. */
  async flood(args: GeneratorCommands['flood']['args']): Promise<FloodResult> {
    const results = await this.onEach('flood', () => ({ ...args, maxMessages: Math.ceil(args.maxMessages / this.size) }));
    return {
      sent: sum(results, (r) => r.sent),
      startedAt: Math.min(...results.map((r) => r.startedAt)),
      stoppedAt: Math.max(...results.map((r) => r.stoppedAt)),
    };
  }

  /** Acknowledged writes from every joined client, one at a time each. */
  async writes(args: GeneratorCommands['writes']['args']): Promise<{
    acknowledged: number;
    failed: number;
    errors: string[];
    seconds: number;
    latency: LatencySummary;
  }> {
    const results = await this.onEach('writes', () => args);
    return {
      acknowledged: sum(results, (r) => r.acknowledged),
      failed: sum(results, (r) => r.failed),
      errors: results.flatMap((r: WritesResult) => r.errors),
      seconds: (Math.max(...results.map((r) => r.stoppedAt)) - Math.min(...results.map((r) => r.startedAt))) / 1e6,
      latency: summarizeEncoded(results.map((r) => r.histogram)),
    };
  }

  /** Clients the server has disconnected so far (those closed on command are not counted). */
  async disconnected(): Promise<number> {
    const results = await this.onEach('collect', () => ({ step: 0, withHistogram: false }));
    return sum(results, (r) => r.disconnected);
  }

  async delivered(step: number): Promise<number> {
    const results = await this.onEach('collect', () => ({ step, withHistogram: false }));
    return sum(results, (r) => r.delivered);
  }

  /** Deliveries of the steps together, and their latency. */
  async deliveryLatency(...steps: number[]): Promise<{ delivered: number; latency: LatencySummary }> {
    const perStep = await Promise.all(steps.map((step) => this.onEach('collect', () => ({ step, withHistogram: true }))));
    const results = perStep.flat();
    return {
      delivered: sum(results, (r) => r.delivered),
      latency: summarizeEncoded(results.map((r) => r.histogram ?? '')),
    };
  }

  /** CPU seconds used so far by the generator processes and this coordinator. */
  async cpuSeconds(): Promise<number> {
    const results = await this.onEach('usage', () => ({}));
    const own = process.cpuUsage();
    return (sum(results, (r) => r.cpuMicros) + own.user + own.system) / 1e6;
  }

  /** Closes every client and ends the processes; resolves with the clients dropped by the server. */
  async close(): Promise<number> {
    const exited = this.workers.map((worker) =>
      worker.exitCode !== null ? Promise.resolve() : new Promise<void>((resolve) => worker.once('exit', () => resolve())),
    );
    let disconnected = 0;
    try {
      disconnected = sum(await this.onEach('close', () => ({})), (r) => r.disconnected);
    } finally {
      const killer = setTimeout(() => this.workers.forEach((worker) => worker.kill()), 5000);
      await Promise.all(exited);
      clearTimeout(killer);
    }
    return disconnected;
  }

  private onEach<K extends CommandName>(
    kind: K,
    argsFor: (index: number) => GeneratorCommands[K]['args'],
  ): Promise<GeneratorCommands[K]['result'][]> {
    return Promise.all(this.workers.map((worker, index) => this.request(worker, kind, argsFor(index))));
  }

  private request<K extends CommandName>(
    worker: ChildProcess,
    kind: K,
    args: GeneratorCommands[K]['args'],
  ): Promise<GeneratorCommands[K]['result']> {
    const id = this.nextId++;
    const request: Request<K> = { id, kind, args };
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { worker, resolve: resolve as (result: unknown) => void, reject });
      worker.send(request);
    });
  }
}

function sum<T>(items: readonly T[], value: (item: T) => number): number {
  return items.reduce((total, item) => total + value(item), 0);
}

/** The generators' entries (or reconnections) as one. */
function summarizeEntries(results: EnterResult[]): EnterSummary {
  return {
    succeeded: sum(results, (r) => r.succeeded),
    failed: sum(results, (r) => r.failed),
    errors: results.flatMap((r) => r.errors),
    latency: summarizeEncoded(results.map((r) => r.histogram)),
    lastDoneAt: Math.max(...results.map((r) => r.lastDoneAt)),
  };
}
