// `conclave bench fuzz`: the server fuzzer and the parser fuzzer together, with
// a report of what broke. Findings carry the seed and the input numbers, and
// `--show` prints any input from those two, so a finding reproduces.

import { setImmediate as yieldToClients } from 'node:timers/promises';
import { startConclave, type ServerFinding } from '../conclave-process.js';
import { userJid } from './generate.js';
import { ParserFuzzer, parserInput, PARSER_TARGETS, type ParserTarget } from './parsers.js';
import { Random } from './random.js';
import { fuzzServer, serverInput, type Hang } from './server-fuzz.js';

export interface FuzzOptions {
  seed: number;
  serverInputs: number;
  parserInputs: number;
  clients: number;
  shards: number;
  hangTimeoutMs: number;
  /** Stop taking new inputs after this long (the report says how many went in). */
  budgetMs: number;
  /** YAML files layered over the fuzz configuration (e.g. to lift rate limits). */
  configFiles: string[];
  log(line: string): void;
  /** Once aborted (^C), no new inputs are taken, as when the budget is spent. */
  stop?: AbortSignal;
}

export interface ParserFinding {
  input: number;
  target: ParserTarget;
  error: string;
  text: string;
}

export interface FuzzReport {
  seed: number;
  seconds: number;
  /** Stopped early (^C): the counts say how far it went. */
  interrupted: boolean;
  server: {
    stanzas: number;
    streams: number;
    connections: number;
    hangs: (Hang & { texts: string[] })[];
    /** Errors it logged and its exit, if it died. */
    crashes: ServerFinding[];
    warnings: Record<string, number>;
    /** Resident memory (KiB) once a tenth of the inputs (or of the time budget) had gone, at the end, and the most seen. */
    rssWarmKiB: number | null;
    rssEndKiB: number | null;
    rssPeakKiB: number | null;
  };
  parsers: {
    inputs: Record<ParserTarget, number>;
    crashes: ParserFinding[];
    /** The fuzzer's heap (bytes) after a tenth of the parser inputs and at the end. */
    heapWarm: number;
    heapEnd: number;
    slowestMs: number;
  };
}

/** Parser inputs run back to back before the server's clients get the event loop again. */
const PARSER_SLICE = 200;

export async function fuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = performance.now();
  const overBudget = (): boolean => performance.now() - started > options.budgetMs || options.stop?.aborted === true;
  // A parsers-only run needs no server (and must not count one's exit as a finding).
  const server = options.serverInputs > 0 ? await startConclave({ shards: options.shards, admins: [userJid(0)], extraConfigFiles: options.configFiles }) : null;
  options.log(`fuzz: seed ${options.seed}${server ? `; conclave pid ${server.pid} on port ${server.port}` : ''}`);
  const rss = { warm: null as number | null, peak: null as number | null };
  const warmAt = Math.floor(options.serverInputs / 10);
  let lastShown = 0;
  try {
    const [serverResult, parsers] = await Promise.all([
      server === null
        ? { stanzas: 0, streams: 0, connections: 0, hangs: [] }
        : fuzzServer({
            seed: options.seed,
            inputs: options.serverInputs,
            clients: options.clients,
            port: server.port,
            hangTimeoutMs: options.hangTimeoutMs,
            overBudget,
            progress(sent) {
              if (sent % 1000 !== 0) return;
              const now = server.rssKiB();
              if (now !== null) rss.peak = Math.max(rss.peak ?? 0, now);
              if (rss.warm === null && (sent >= warmAt || performance.now() - started > options.budgetMs / 10)) rss.warm = now;
              if (sent - lastShown >= options.serverInputs / 20) {
                lastShown = sent;
                options.log(`fuzz: server ${sent}/${options.serverInputs}, rss ${now} KiB, ${server.findings.length} crash(es)`);
              }
            },
          }),
      fuzzParsers(options, overBudget),
    ]);
    const rssEnd = server?.rssKiB() ?? null;
    return {
      seed: options.seed,
      seconds: (performance.now() - started) / 1000,
      interrupted: options.stop?.aborted === true,
      server: {
        ...serverResult,
        hangs: serverResult.hangs.map((hang) => ({ ...hang, texts: hang.inputs.map((index) => serverInput(options.seed, index)) })),
        crashes: [...(server?.findings ?? [])],
        warnings: Object.fromEntries(server?.warnings ?? []),
        rssWarmKiB: rss.warm ?? rssEnd,
        rssEndKiB: rssEnd,
        rssPeakKiB: rss.peak === null || rssEnd === null ? rss.peak ?? rssEnd : Math.max(rss.peak, rssEnd),
      },
      parsers,
    };
  } finally {
    await server?.stop();
  }
}

async function fuzzParsers(options: FuzzOptions, overBudget: () => boolean): Promise<FuzzReport['parsers']> {
  const fuzzer = new ParserFuzzer();
  const inputs = Object.fromEntries(PARSER_TARGETS.map((target) => [target, 0])) as Record<ParserTarget, number>;
  const crashes: ParserFinding[] = [];
  let heapWarm = process.memoryUsage().heapUsed;
  let slowestMs = 0;
  try {
    for (let index = 0; index < options.parserInputs; index++) {
      if (index % PARSER_SLICE === 0) {
        if (overBudget()) break;
        await yieldToClients();
      }
      if (index === Math.floor(options.parserInputs / 10)) heapWarm = process.memoryUsage().heapUsed;
      if (index > 0 && index % Math.max(1, Math.floor(options.parserInputs / 20)) === 0) {
        options.log(`fuzz: parsers ${index}/${options.parserInputs}, ${crashes.length} crash(es)`);
      }
      const input = parserInput(options.seed, index);
      const began = performance.now();
      const error = fuzzer.run(input, new Random(options.seed, index * 8 + 7));
      slowestMs = Math.max(slowestMs, performance.now() - began);
      inputs[input.target]++;
      if (error) {
        crashes.push({ input: index, target: input.target, error: error.stack ?? error.message, text: input.text });
        options.log(`fuzz: CRASH parser:${index} (${input.target}): ${error.message}`);
      }
    }
  } finally {
    fuzzer.close();
  }
  return { inputs, crashes, heapWarm, heapEnd: process.memoryUsage().heapUsed, slowestMs };
}

/** Crashes and hangs found, server and parsers together: zero is the target. */
export function findings(report: FuzzReport): number {
  return report.server.crashes.length + report.server.hangs.length + report.parsers.crashes.length;
}

/** The input a finding names: `server:N` or `parser:N`. */
export function showInput(seed: number, name: string): string {
  const match = /^(server|parser):(\d+)$/.exec(name);
  if (!match) throw new Error(`--show takes server:N or parser:N, not "${name}"`);
  const index = Number(match[2]);
  if (match[1] === 'server') return serverInput(seed, index);
  const input = parserInput(seed, index);
  return `[${input.target}]\n${input.text}`;
}

const SHOWN_CHARACTERS = 2000;

export function describeFuzz(report: FuzzReport): string {
  const { server, parsers } = report;
  const parserTotal = Object.values(parsers.inputs).reduce((sum, count) => sum + count, 0);
  const kib = (value: number | null): string => (value === null ? '?' : `${(value / 1024).toFixed(1)} MiB`);
  const growth = server.rssWarmKiB && server.rssEndKiB ? `${(((server.rssEndKiB - server.rssWarmKiB) / server.rssWarmKiB) * 100).toFixed(1)}%` : '?';
  const shown = (text: string): string => JSON.stringify(text.length > SHOWN_CHARACTERS ? `${text.slice(0, SHOWN_CHARACTERS)}…(${text.length} chars)` : text);
  // A run of only one kind says nothing of the other.
  const serverRan = server.connections > 0;
  const lines = [
    `fuzz seed ${report.seed}: ${server.stanzas + server.streams + parserTotal} inputs in ${report.seconds.toFixed(0)} s${report.interrupted ? ' (interrupted)' : ''}, ${findings(report)} finding(s)`,
    ...(serverRan
      ? [
          `  server: ${server.stanzas} stanzas + ${server.streams} streams, ${server.connections} connections, ${server.crashes.length} crash(es), ${server.hangs.length} hang(s)`,
          `  server rss: ${kib(server.rssWarmKiB)} after warm-up, ${kib(server.rssEndKiB)} at the end (${growth}), peak ${kib(server.rssPeakKiB)}`,
        ]
      : []),
    ...(parserTotal > 0
      ? [
          `  parsers: ${PARSER_TARGETS.map((target) => `${target} ${parsers.inputs[target]}`).join(', ')}; ${parsers.crashes.length} crash(es); slowest input ${parsers.slowestMs.toFixed(1)} ms`,
          `  fuzzer heap: ${(parsers.heapWarm / 2 ** 20).toFixed(1)} MiB after warm-up, ${(parsers.heapEnd / 2 ** 20).toFixed(1)} MiB at the end`,
        ]
      : []),
  ];
  for (const [message, count] of Object.entries(server.warnings)) lines.push(`  server warned ${count}×: ${message}`);
  for (const crash of server.crashes) lines.push(`CRASH (server ${crash.kind}): ${crash.detail}`);
  for (const hang of server.hangs) {
    lines.push(`HANG (client ${hang.client}): ${hang.what}; inputs since the last answer: ${hang.inputs.map((i) => `server:${i}`).join(' ')}`);
    hang.texts.forEach((text, i) => lines.push(`  server:${hang.inputs[i]} = ${shown(text)}`));
  }
  for (const crash of parsers.crashes) lines.push(`CRASH (parser ${crash.target}, parser:${crash.input}): ${crash.error}\n  input = ${shown(crash.text)}`);
  if (findings(report) > 0) lines.push(`reproduce an input: conclave bench fuzz --seed ${report.seed} --show server:N|parser:N`);
  return lines.join('\n');
}
