// `conclave bench soak`: mixed traffic against a Conclave it starts, for a set
// time: clients join and leave rooms, talk, change nicknames, reconfigure the
// room they own and reconnect. Every interval it samples the server's resident
// memory and the latency of a groupchat message back to its sender, so that a
// leak or a slowdown shows as drift between the first sample after warm-up and
// the last. Crashes (errors logged, the process exiting) and hangs (an answer
// not within the timeout) are counted; zero is the target.

import { setTimeout as sleep } from 'node:timers/promises';
import { RawClient } from '../test/helpers/server.js';
import { startConclave, type ServerFinding } from './conclave-process.js';
import { BENCH_MUC_DOMAIN } from './servers.js';

export interface SoakOptions {
  seconds: number;
  clients: number;
  rooms: number;
  /** Pause between one client's actions. */
  pauseMs: number;
  /** Turns each client takes however long they last (a test's guarantee that every action came up, on a busy machine too). */
  minTurns?: number;
  /** Samples in the run; the first fifth is warm-up. */
  samples: number;
  shards: number;
  hangTimeoutMs: number;
  configFiles: string[];
  log(line: string): void;
  /** Once aborted (^C), the clients end after their current action and the report covers what ran. */
  stop?: AbortSignal;
}

export interface SoakSample {
  atSeconds: number;
  rssKiB: number | null;
  actions: number;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
}

export interface SoakReport {
  /** How long it ran: less than asked when interrupted. */
  seconds: number;
  interrupted: boolean;
  clients: number;
  rooms: number;
  actions: Record<Action, number>;
  samples: SoakSample[];
  /** From the first sample after warm-up to the last, in percent. */
  rssGrowthPercent: number | null;
  /**
   * From the mean of the first half of the samples after warm-up to the mean
   * of the second half, in percent: one sample is one point of the garbage
   * collector's sawtooth, a half's mean is not.
   */
  rssMeanGrowthPercent: number | null;
  latencyP50DriftPercent: number | null;
  crashes: ServerFinding[];
  hangs: string[];
}

const ACTIONS = ['message', 'nick', 'rejoin', 'configure', 'reconnect'] as const;
type Action = (typeof ACTIONS)[number];
/** How often each action comes, out of 100. */
const WEIGHTS: Record<Action, number> = { message: 80, nick: 6, rejoin: 6, configure: 4, reconnect: 4 };

export async function soak(options: SoakOptions): Promise<SoakReport> {
  const server = await startConclave({ shards: options.shards, extraConfigFiles: options.configFiles });
  options.log(`soak: conclave pid ${server.pid} on port ${server.port}, ${options.clients} clients, ${options.seconds} s`);
  const actions = Object.fromEntries(ACTIONS.map((action) => [action, 0])) as Record<Action, number>;
  const hangs: string[] = [];
  const samples: SoakSample[] = [];
  let latencies: number[] = [];
  let actionsInSample = 0;
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  const stats = {
    did(action: Action) {
      actions[action]++;
      actionsInSample++;
    },
    latency(ms: number) {
      latencies.push(ms);
    },
    hang(what: string) {
      hangs.push(what);
      options.log(`soak: HANG ${what}`);
    },
  };
  const sampler = (async () => {
    const every = (options.seconds * 1000) / options.samples;
    for (let next = started + every; next <= deadline + 1; next += every) {
      const slept = await sleep(Math.max(0, next - performance.now()), true, { signal: options.stop }).catch(() => false);
      if (!slept) return;
      const sorted = latencies.sort((a, b) => a - b);
      const sample = {
        atSeconds: Math.round((performance.now() - started) / 1000),
        rssKiB: server.rssKiB(),
        actions: actionsInSample,
        latencyP50Ms: percentile(sorted, 0.5),
        latencyP99Ms: percentile(sorted, 0.99),
      };
      samples.push(sample);
      latencies = [];
      actionsInSample = 0;
      options.log(`soak: ${sample.atSeconds} s: rss ${sample.rssKiB} KiB, ${sample.actions} actions, p50 ${sample.latencyP50Ms?.toFixed(1)} ms, p99 ${sample.latencyP99Ms?.toFixed(1)} ms`);
    }
  })();
  try {
    await Promise.all([
      sampler,
      ...Array.from({ length: options.clients }, (_, index) => runClient(index, server.port, options, (turns) => (performance.now() >= deadline && turns >= (options.minTurns ?? 0)) || options.stop?.aborted === true, stats)),
    ]);
  } finally {
    await server.stop();
  }
  const measured = samples.slice(Math.floor(samples.length / 5));
  const first = measured[0];
  const last = measured.at(-1);
  const interrupted = options.stop?.aborted === true;
  return {
    seconds: interrupted ? Math.round((performance.now() - started) / 1000) : options.seconds,
    interrupted,
    clients: options.clients,
    rooms: options.rooms,
    actions,
    samples,
    rssGrowthPercent: drift(first?.rssKiB, last?.rssKiB),
    rssMeanGrowthPercent: drift(...halvesMeanRss(measured)),
    latencyP50DriftPercent: drift(first?.latencyP50Ms, last?.latencyP50Ms),
    crashes: server.findings,
    hangs,
  };
}

interface Stats {
  did(action: Action): void;
  latency(ms: number): void;
  hang(what: string): void;
}

/** One client: it owns a room of its own (to reconfigure) and talks in one of the shared ones. */
async function runClient(index: number, port: number, options: SoakOptions, done: (turns: number) => boolean, stats: Stats): Promise<void> {
  const own = `own${index}@${BENCH_MUC_DOMAIN}`;
  let shared = `soak${index % options.rooms}@${BENCH_MUC_DOMAIN}`;
  let nick = `c${index}`;
  let turn = 0;
  const wait = async <T>(what: string, promise: Promise<T>): Promise<T> => {
    const timer = sleep(options.hangTimeoutMs, 'timeout' as const, { ref: false });
    const outcome = await Promise.race([promise, timer]);
    if (outcome === 'timeout') {
      stats.hang(`client ${index}: ${what} not answered within ${options.hangTimeoutMs / 1000} s`);
      throw new Error('hang');
    }
    return outcome as T;
  };
  /** Joins (or changes nickname); a room this client creates is unlocked at once, one still locked by its creator is tried again. */
  const join = async (client: RawClient, room: string, as: string): Promise<void> => {
    for (;;) {
      client.send(`<presence to='${room}/${as}'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`);
      const answer = await wait(`joining ${room}`, client.next((s) => s.name === 'presence' && s.attrs.from === `${room}/${as}` && s.attrs.type !== 'unavailable'));
      if (answer.attrs.type !== 'error') {
        if (answer.toString().includes(`code='201'`)) {
          client.send(`<iq type='set' id='create' to='${room}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`);
          await wait('unlocking a new room', client.reply('create'));
        }
        return;
      }
      await sleep(options.pauseMs);
    }
  };
  const connect = async (): Promise<RawClient> => {
    const client = await RawClient.connect(port);
    await wait('logging in', client.login(`soak${index}`, 'password', `r${turn}`));
    await join(client, own, 'owner');
    await join(client, shared, nick);
    return client;
  };
  let client: RawClient;
  try {
    client = await connect();
    while (!done(turn)) {
      turn++;
      const action = pick(turn * 7919 + index);
      if (action === 'message') {
        const body = `soak ${index} ${turn}`;
        const sent = performance.now();
        client.send(`<message to='${shared}' type='groupchat'><body>${body}</body></message>`);
        await wait('a groupchat message', client.next((s) => s.name === 'message' && s.getChildText('body') === body));
        stats.latency(performance.now() - sent);
      } else if (action === 'nick') {
        nick = `c${index}-${turn}`;
        await join(client, shared, nick);
      } else if (action === 'rejoin') {
        client.send(`<presence to='${shared}/${nick}' type='unavailable'/>`);
        await wait('leaving', client.next((s) => s.name === 'presence' && s.attrs.from === `${shared}/${nick}` && s.attrs.type === 'unavailable'));
        shared = `soak${(index + turn) % options.rooms}@${BENCH_MUC_DOMAIN}`;
        await join(client, shared, nick);
      } else if (action === 'configure') {
        const id = `cfg${turn}`;
        client.send(
          `<iq type='set' id='${id}' to='${own}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>` +
            `<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
            `<field var='muc#roomconfig_roomname'><value>room ${turn}</value></field>` +
            `<field var='muc#roomconfig_changesubject'><value>${turn % 2}</value></field></x></query></iq>`,
        );
        await wait('a configuration change', client.reply(id));
      } else {
        await wait('closing the stream', client.close());
        client = await connect();
      }
      stats.did(action);
      // What the client was not waiting for (other occupants' traffic) is not kept.
      client.queue.length = 0;
      await sleep(options.pauseMs);
    }
    await client.close();
  } catch (error) {
    if ((error as Error).message !== 'hang') stats.hang(`client ${index}: ${(error as Error).message}`);
  }
}

/** A fixed, well-spread choice of action per turn, so that runs are alike. */
function pick(n: number): Action {
  let roll = Math.imul(n, 2654435761) >>> 0;
  roll %= 100;
  for (const action of ACTIONS) {
    if (roll < WEIGHTS[action]) return action;
    roll -= WEIGHTS[action];
  }
  return 'message';
}

function percentile(sorted: number[], fraction: number): number | null {
  return sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

/** The mean RSS (KiB) of the first and of the second half of the samples. */
export function halvesMeanRss(samples: SoakSample[]): [number | null, number | null] {
  const mean = (half: SoakSample[]): number | null => {
    const values = half.flatMap((sample) => (sample.rssKiB === null ? [] : [sample.rssKiB]));
    return values.length === 0 ? null : values.reduce((sum, value) => sum + value, 0) / values.length;
  };
  const middle = Math.floor(samples.length / 2);
  return [mean(samples.slice(0, middle)), mean(samples.slice(samples.length - middle))];
}

function drift(from: number | null | undefined, to: number | null | undefined): number | null {
  return from && to !== null && to !== undefined ? ((to - from) / from) * 100 : null;
}

export function describeSoak(report: SoakReport): string {
  const measured = report.samples.slice(Math.floor(report.samples.length / 5));
  const first = measured[0];
  const last = measured.at(-1);
  const [firstHalf, secondHalf] = halvesMeanRss(measured);
  const mib = (kib: number | null | undefined): string => (kib ? `${(kib / 1024).toFixed(1)} MiB` : '?');
  const ms = (value: number | null | undefined): string => (value === null || value === undefined ? '?' : `${value.toFixed(1)} ms`);
  const percent = (value: number | null): string => (value === null ? '?' : `${value >= 0 ? '+' : ''}${value.toFixed(1)}%`);
  return [
    `soak: ${report.seconds} s${report.interrupted ? ' (interrupted)' : ''}, ${report.clients} clients over ${report.rooms} rooms; ${ACTIONS.map((action) => `${report.actions[action]} ${action}`).join(', ')}`,
    `  rss after warm-up ${mib(first?.rssKiB)} at ${first?.atSeconds ?? '?'} s, at the end ${mib(last?.rssKiB)}: ${percent(report.rssGrowthPercent)}`,
    `  rss mean over the first half after warm-up ${mib(firstHalf)}, over the second ${mib(secondHalf)}: ${percent(report.rssMeanGrowthPercent)}`,
    `  groupchat round trip p50 ${ms(first?.latencyP50Ms)} → ${ms(last?.latencyP50Ms)} (${percent(report.latencyP50DriftPercent)}), p99 ${ms(first?.latencyP99Ms)} → ${ms(last?.latencyP99Ms)}`,
    `  ${report.crashes.length} crash(es), ${report.hangs.length} hang(s)`,
    ...report.crashes.map((crash) => `CRASH (${crash.kind}): ${crash.detail}`),
    ...report.hangs.map((hang) => `HANG: ${hang}`),
  ].join('\n');
}
