// Turns a comparison run into its report: README.md (tables), SVG charts and
// results.json beside them. Every figure comes from results.json, so a report
// can be rewritten from it (`conclave bench report DIR`).

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CompareRun, Measurement, WorkloadEntry } from '../compare.js';
import type { FanoutResult, FanoutStep } from '../scenarios/fanout.js';
import type { ScenarioResult } from '../scenarios/index.js';
import { busiestThreadShare, type ResourceUsage } from '../scenarios/common.js';
import { OVERLOAD_TARGETS, recoveryFigure } from '../scenarios/overload.js';
import { renderBarChart, renderLineChart } from './charts.js';

const SERVER_COLORS: Record<string, string> = {
  conclave: '#1f77b4',
  'conclave-cluster': '#17becf',
  'conclave-cluster-1': '#9edae5',
  prosody: '#2ca02c',
  'prosody-default-gc': '#98df8a',
  ejabberd: '#d62728',
  limit: '#7f7f7f',
};

export function readRun(directory: string): CompareRun {
  return JSON.parse(readFileSync(join(directory, 'results.json'), 'utf8')) as CompareRun;
}

export function writeReport(directory: string, run: CompareRun): void {
  const charts = renderCharts(run);
  for (const [file, svg] of Object.entries(charts)) writeFileSync(join(directory, file), svg);
  writeFileSync(join(directory, 'README.md'), renderMarkdown(run, Object.keys(charts)));
}

// Lookups and formatting

type Of<S extends ScenarioResult['scenario']> = Extract<ScenarioResult, { scenario: S }>;

function measured(run: CompareRun, workload: string, server: string): Measurement | undefined {
  return run.measurements.find((m) => m.workload === workload && m.server === server);
}

function resultOf<S extends ScenarioResult['scenario']>(
  run: CompareRun,
  workload: string,
  server: string,
  scenario: S,
): Of<S> | null {
  const result = measured(run, workload, server)?.result;
  return result && result.scenario === scenario ? (result as Of<S>) : null;
}

function servers(run: CompareRun): string[] {
  return run.servers.filter((server) => !server.skipped).map((server) => server.name);
}

function figure(value: number | null | undefined, unit = ''): string {
  if (value === null || value === undefined) return '—';
  const shown = Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en-US') : String(Number(value.toPrecision(3)));
  return `${shown}${unit}`;
}

/** Every measured phase's resource usage, for the background load. */
function usages(run: CompareRun): ResourceUsage[] {
  return run.measurements.flatMap(({ result }) => {
    if (!result) return [];
    switch (result.scenario) {
      case 'fanout':
        return result.steps.map((step) => step.usage);
      case 'idle-memory':
        return [];
      case 'mobile-reconnect':
        return [result.withResumption.usage, result.withoutResumption.usage];
      default:
        return [result.usage];
    }
  });
}

/** CPU taken by processes other than the server and the generator, over all measured phases. */
function backgroundLoad(run: CompareRun): string {
  const phases = usages(run).filter((usage) => usage.otherCpuSeconds !== null && usage.wallSeconds >= 1);
  if (phases.length === 0) return 'not measured';
  const shares = phases.map((usage) => usage.otherCpuSeconds! / usage.wallSeconds);
  const wall = phases.reduce((total, usage) => total + usage.wallSeconds, 0);
  const mean = phases.reduce((total, usage) => total + usage.otherCpuSeconds!, 0) / wall;
  const busy = shares.filter((share) => share >= 0.25).length;
  return (
    `other processes took ${Math.round(mean * 100)}% of one core on average during the measured phases ` +
    `(the most: ${Math.round(Math.max(...shares) * 100)}%; ${busy} of ${phases.length} phases above 25%)`
  );
}

/** Share of all cores busy during a phase, whoever used them. */
function machineBusy(usage: ResourceUsage, cores: number): number {
  const busy = (usage.serverCpuSeconds ?? 0) + usage.generatorCpuSeconds + (usage.otherCpuSeconds ?? 0);
  return busy / usage.wallSeconds / cores;
}

/** Past this share of the cores busy, a failing step says as much about the machine as about the server. */
const SATURATED = 0.9;

function percentOfCore(cpuSeconds: number | null, usage: ResourceUsage): string {
  return cpuSeconds === null ? '—' : `${Math.round((cpuSeconds / usage.wallSeconds) * 100)}%`;
}

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

/** The cell for a failed or missing measurement. */
function missing(run: CompareRun, workload: string, server: string): string {
  const measurement = measured(run, workload, server);
  return measurement?.error ? 'error' : '—';
}

// The headline figure of each scenario

interface Headline {
  metric: string;
  value(run: CompareRun, workload: string, server: string): string;
  number(run: CompareRun, workload: string, server: string): number | null;
}

function bestStep(run: CompareRun, workload: string, server: string): FanoutStep | null {
  return resultOf(run, workload, server, 'fanout')?.best ?? null;
}

const HEADLINES: Record<ScenarioResult['scenario'], Headline> = {
  fanout: {
    metric: 'delivered stanzas/s at p99 < limit, nothing lost',
    number: (run, w, s) => bestStep(run, w, s)?.deliveredPerSecond ?? null,
    value: (run, w, s) => {
      const result = resultOf(run, w, s, 'fanout');
      if (!result) return missing(run, w, s);
      if (!result.best) return 'first step failed';
      const last = result.steps.at(-1)!;
      const why =
        last.failure === null
          ? ' (ladder top: never failed)'
          : machineBusy(last.usage, run.machine.cores) >= SATURATED
            ? ' (machine saturated)'
            : '';
      return `${figure(result.best.deliveredPerSecond)} (p99 ${figure(result.best.latency.p99)} ms)${why}`;
    },
  },
  'join-storm': {
    metric: 'joins/s (all clients in), the median storm',
    number: (run, w, s) => resultOf(run, w, s, 'join-storm')?.joinsPerSecond ?? null,
    value: (run, w, s) => {
      const result = resultOf(run, w, s, 'join-storm');
      if (!result) return missing(run, w, s);
      return `${figure(result.joinsPerSecond)} (${figure(result.seconds)} s${result.failed ? `, ${result.failed} failed` : ''})`;
    },
  },
  'large-room': {
    metric: 'seconds until all joined',
    number: (run, w, s) => resultOf(run, w, s, 'large-room')?.seconds ?? null,
    value: (run, w, s) => {
      const result = resultOf(run, w, s, 'large-room');
      if (!result) return missing(run, w, s);
      return `${figure(result.seconds)} s${result.failed ? ` (${result.failed} failed)` : ''}`;
    },
  },
  'idle-memory': {
    metric: 'RSS per occupant (connection + room), KiB',
    number: (run, w, s) => resultOf(run, w, s, 'idle-memory')?.perJoinedClientKiB ?? null,
    value: (run, w, s) => {
      const result = resultOf(run, w, s, 'idle-memory');
      if (!result) return missing(run, w, s);
      return `${figure(result.perJoinedClientKiB)} (${figure(result.perConnectionKiB)} + ${figure(result.perOccupantKiB)})`;
    },
  },
  'presence-churn': {
    metric: 'message p99 ms under churn (rejoin p99 ms)',
    number: (run, w, s) => resultOf(run, w, s, 'presence-churn')?.latency.p99 ?? null,
    value: (run, w, s) => {
      const result = resultOf(run, w, s, 'presence-churn');
      if (!result) return missing(run, w, s);
      return `${figure(result.latency.p99)} (${figure(result.churnLatency.p99)})`;
    },
  },
  'acked-writes': {
    metric: 'acknowledged writes/s (ack p99 ms)',
    number: (run, w, s) => resultOf(run, w, s, 'acked-writes')?.acknowledgedPerSecond ?? null,
    value: (run, w, s) => {
      const result = resultOf(run, w, s, 'acked-writes');
      if (!result) return missing(run, w, s);
      return `${figure(result.acknowledgedPerSecond)} (${figure(result.latency.p99)})${result.failed ? `, ${result.failed} failed` : ''}`;
    },
  },
  'mobile-reconnect': {
    metric: 'seconds until all are back / server CPU-seconds: with resumption; without',
    number: (run, w, s) => resultOf(run, w, s, 'mobile-reconnect')?.withResumption.seconds ?? null,
    value: (run, w, s) => {
      const result = resultOf(run, w, s, 'mobile-reconnect');
      if (!result) return missing(run, w, s);
      const { withResumption: resumed, withoutResumption: rejoined } = result;
      const failed = resumed.failed + rejoined.failed;
      return (
        `${figure(resumed.seconds)} s / ${figure(resumed.usage.serverCpuSeconds)}; ${figure(rejoined.seconds)} s / ${figure(rejoined.usage.serverCpuSeconds)}` +
        (failed ? ` (${failed} failed)` : '')
      );
    },
  },
  overload: {
    metric: `others' p99 ms during the flood / readers disconnected / peak RSS × pre-flood / recovery (targets: < ${OVERLOAD_TARGETS.othersP99Ms} / ${OVERLOAD_TARGETS.readersDisconnected} / < ${OVERLOAD_TARGETS.peakRssRatio} / —)`,
    number: (run, w, s) => resultOf(run, w, s, 'overload')?.duringFlood.p99 ?? null,
    value: (run, w, s) => {
      const result = resultOf(run, w, s, 'overload');
      if (!result) return missing(run, w, s);
      return `${figure(result.duringFlood.p99)} / ${result.readersDisconnected} / ${figure(result.peakRssRatio)} / ${recoveryFigure(result.recoverySeconds, result)}`;
    },
  },
};

/** Work per server CPU-second, where the scenario has a count of work done. */
function efficiency(run: CompareRun, workload: WorkloadEntry, server: string): number | null {
  const result = measured(run, workload.name, server)?.result;
  if (!result) return null;
  switch (result.scenario) {
    case 'fanout':
      return result.best?.deliveriesPerServerCpuSecond ?? null;
    case 'join-storm':
      return result.joinsPerServerCpuSecond;
    case 'presence-churn':
      return result.deliveriesPerServerCpuSecond;
    case 'acked-writes':
      return result.acknowledgedPerServerCpuSecond;
    default:
      return null;
  }
}

const EFFICIENCY_UNITS: Partial<Record<ScenarioResult['scenario'], string>> = {
  fanout: 'delivered stanzas per server CPU-second, at the best step',
  'join-storm': 'joins per server CPU-second',
  'presence-churn': 'delivered stanzas per server CPU-second',
  'acked-writes': 'acknowledged writes per server CPU-second',
};

// Charts

function renderCharts(run: CompareRun): Record<string, string> {
  const names = servers(run);
  const series = (value: (workload: string, server: string) => number | null, workloads: WorkloadEntry[]) =>
    names.map((server) => ({
      name: server,
      color: SERVER_COLORS[server] ?? '#000',
      values: workloads.map((workload) => value(workload.name, server)),
    }));
  const charts: Record<string, string> = {};
  const fanouts = run.workloads.filter((w) => w.scenario === 'fanout');
  if (fanouts.length > 0) {
    charts['throughput.svg'] = renderBarChart({
      title: 'Fan-out: delivered stanzas/s at p99 < 200 ms, nothing lost',
      unit: 'stanzas/s',
      groups: fanouts.map((w) => w.name),
      series: series((w, s) => HEADLINES.fanout.number(run, w, s), fanouts),
    });
  }
  const delivering = run.workloads.filter((w) => w.scenario === 'fanout' || w.scenario === 'presence-churn');
  if (delivering.length > 0) {
    charts['efficiency.svg'] = renderBarChart({
      title: 'Delivered stanzas per server CPU-second (fan-out: at the best step)',
      unit: 'stanzas per CPU-second',
      groups: delivering.map((w) => w.name),
      series: series((w, s) => efficiency(run, run.workloads.find((x) => x.name === w)!, s), delivering),
    });
  }
  for (const workload of fanouts) {
    charts[`latency-${workload.name}.svg`] = renderLineChart({
      title: `${workload.title}: p99 latency against offered load`,
      xLabel: 'offered load, delivered stanzas/s',
      yLabel: 'p99 latency, ms',
      threshold: { y: workload.parameters.p99LimitMs ?? 200, label: 'limit' },
      series: names.map((server) => ({
        name: server,
        color: SERVER_COLORS[server] ?? '#000',
        points: (resultOf(run, workload.name, server, 'fanout')?.steps ?? []).map(
          (step): [number, number] => [step.offeredDeliveriesPerSecond, Math.max(0.01, step.latency.p99)],
        ),
      })),
    });
  }
  for (const scenario of ['join-storm', 'large-room', 'idle-memory'] as const) {
    const workloads = run.workloads.filter((w) => w.scenario === scenario);
    if (workloads.length === 0) continue;
    charts[`${scenario}.svg`] = renderBarChart({
      title: `${workloads[0]!.title}: ${HEADLINES[scenario].metric}`,
      unit: HEADLINES[scenario].metric.split(',').at(-1)!.trim(),
      groups: workloads.map((w) => w.name),
      series: series((w, s) => HEADLINES[scenario].number(run, w, s), workloads),
    });
  }
  return charts;
}

// The document

function renderMarkdown(run: CompareRun, chartFiles: string[]): string {
  const names = servers(run);
  const out: string[] = [];
  const date = run.startedAt.slice(0, 10);
  out.push(`# Conclave benchmark, ${date}${run.quick ? ' (quick run)' : ''}`, '');
  out.push(
    `Taken with \`${run.commandLine}\` from ${run.startedAt.slice(11, 16)} to ${run.finishedAt.slice(11, 16)} UTC. ` +
      `Every figure below is in [results.json](results.json). Run-to-run noise on this kind of machine is about ±20%: ` +
      `compare servers within one report, not across reports.`,
    '',
  );

  out.push('## Machine', '');
  out.push(
    table(
      ['', ''],
      [
        ['CPU', `${run.machine.cpu}, ${run.machine.cores} cores`],
        ['Memory', `${run.machine.memoryGiB} GiB`],
        ['Kernel', run.machine.kernel],
        ['Node', run.machine.node],
        ['Generator', `${run.generators} processes${run.pinned ? '; generator pinned to CPU 1, server to CPU 0' : ', not pinned'}`],
        ['Load average (1, 5, 15 min)', `before ${run.loadBefore.join(', ')}; after ${run.loadAfter.join(', ')}`],
        ['Background load', backgroundLoad(run)],
      ],
    ),
    '',
  );

  out.push('## Servers', '');
  out.push(
    table(
      ['server', 'version', 'what', 'command (temporary paths as they were)'],
      run.servers.map((server) => [
        server.name,
        server.version,
        server.skipped ? `skipped: ${server.skipped}` : server.description,
        server.command ? `\`${server.command}\`` : '—',
      ]),
    ),
    '',
    'The configurations are in [bench/peers/](../../peers/), with what each lifts and why in its README.',
    '',
  );

  out.push('## Summary', '');
  out.push(
    table(
      ['workload', 'metric', ...names, 'targets (Prosody / ejabberd, measured by others)'],
      run.workloads.map((workload) => {
        const headline = HEADLINES[workload.scenario as ScenarioResult['scenario']];
        return [
          workload.title,
          headline.metric,
          ...names.map((server) => headline.value(run, workload.name, server)),
          workload.targets ? `${workload.targets.prosody} / ${workload.targets.ejabberd}` : '—',
        ];
      }),
    ),
    '',
  );

  out.push('## Efficiency', '');
  out.push(
    table(
      ['workload', 'unit', ...names],
      run.workloads
        .filter((workload) => EFFICIENCY_UNITS[workload.scenario as ScenarioResult['scenario']])
        .map((workload) => [
          workload.name,
          EFFICIENCY_UNITS[workload.scenario as ScenarioResult['scenario']]!,
          ...names.map((server) => figure(efficiency(run, workload, server))),
        ]),
    ),
    '',
  );
  for (const workload of run.workloads.filter((w) => w.scenario === 'fanout')) {
    out.push(`### Latency at equal offered load: ${workload.title}`, '');
    out.push(...equalLoadTable(run, workload, names), '');
  }

  out.push(...clusterSection(run));

  if (chartFiles.length > 0) {
    out.push('## Charts', '');
    for (const file of chartFiles) out.push(`![${file.replace(/\.svg$/, '')}](${file})`, '');
  }

  out.push('## Details', '');
  for (const workload of run.workloads) {
    out.push(`### ${workload.title}`, '');
    out.push(
      `Scenario \`${workload.scenario}\`: ${Object.entries(workload.parameters)
        .map(([name, value]) => `${name} ${value}`)
        .join(', ')}.` +
        (workload.limits === 'stock'
          ? ' Each server runs with its stock protection: Prosody with mod_limits (10 kB/s per client), ' +
            "ejabberd with its c2s shaper (3000 B/s), Conclave with its defaults (bench/peers/README.md)."
          : ''),
      '',
    );
    out.push(...detailTable(run, workload, names), '');
    for (const server of names) {
      const error = measured(run, workload.name, server)?.error;
      if (error) out.push(`${server} failed: \`${error.split('\n')[0]}\``, '');
    }
  }

  out.push('## How to reproduce', '');
  out.push(
    '```sh',
    'apt-get install prosody ejabberd   # then stop the system-wide instances',
    'npm ci && npm run build',
    `node dist/src/cli/main.js bench compare${run.quick ? ' --quick' : ''}${run.pinned ? ' --pin' : ''}`,
    '```',
    '',
    'In the details, CPU figures are percent of one core over the measured phase; "other CPU" is what processes ' +
      'that were neither the server nor the generator took meanwhile (the background load), and "machine busy" ' +
      `is all of it as a share of all ${run.machine.cores} cores. A fan-out maximum marked "machine saturated" ` +
      'failed its next step with the machine at least 90% busy: generator and server were competing for the cores.',
    '',
  );
  return out.join('\n');
}

const SINGLE = 'conclave';
const CLUSTER = 'conclave-cluster';
/** Issue 13's targets for the cluster beside one node, at equal load. */
const CLUSTER_TARGETS = { efficiencyRatio: 0.7, p99Ratio: 2 };

/** The cluster beside the single node, when both ran: efficiency and p99 ratios, then what crossed NATS. */
function clusterSection(run: CompareRun): string[] {
  const names = servers(run);
  if (!names.includes(SINGLE) || !names.includes(CLUSTER)) return [];
  const out = [
    '## Cluster: three nodes beside one',
    '',
    `\`${CLUSTER}\` is three Conclave nodes and nats-server on this machine, the clients spread over the nodes in turn ` +
      "(a room's occupants on all three); its server CPU is all four processes'. Targets (issue 13): efficiency at least " +
      `${CLUSTER_TARGETS.efficiencyRatio * 100}% of the single node's, p99 at equal load within ${CLUSTER_TARGETS.p99Ratio}× of it.`,
    '',
  ];
  const ratio = (cluster: number | null | undefined, single: number | null | undefined): string =>
    cluster == null || single == null || single === 0 ? '—' : `${Math.round((cluster / single) * 100)}%`;
  const efficient = run.workloads.filter((workload) => EFFICIENCY_UNITS[workload.scenario as ScenarioResult['scenario']]);
  out.push(
    table(
      ['workload', 'unit', SINGLE, CLUSTER, 'cluster ÷ single'],
      efficient.map((workload) => {
        const [single, cluster] = [efficiency(run, workload, SINGLE), efficiency(run, workload, CLUSTER)];
        return [workload.name, EFFICIENCY_UNITS[workload.scenario as ScenarioResult['scenario']]!, figure(single), figure(cluster), ratio(cluster, single)];
      }),
    ),
    '',
  );
  for (const workload of run.workloads.filter((w) => w.scenario === 'fanout')) {
    const single = resultOf(run, workload.name, SINGLE, 'fanout');
    const cluster = resultOf(run, workload.name, CLUSTER, 'fanout');
    if (!single || !cluster) continue;
    const pairs = cluster.steps.flatMap((step) => {
      const other = single.steps.find((candidate) => candidate.offeredDeliveriesPerSecond === step.offeredDeliveriesPerSecond);
      return other ? [[other, step] as const] : [];
    });
    out.push(`### ${workload.title}, at equal offered load`, '');
    out.push(
      table(
        ['offered/s', 'p99 ms, single', 'p99 ms, cluster', 'cluster ÷ single', 'per CPU-s, single', 'per CPU-s, cluster', 'cluster ÷ single'],
        pairs.map(([one, three]) => [
          figure(one.offeredDeliveriesPerSecond),
          figure(one.latency.p99),
          figure(three.latency.p99),
          ratio(three.latency.p99, one.latency.p99),
          figure(one.deliveriesPerServerCpuSecond),
          figure(three.deliveriesPerServerCpuSecond),
          ratio(three.deliveriesPerServerCpuSecond, one.deliveriesPerServerCpuSecond),
        ]),
      ),
      '',
    );
    out.push(...clusterCostTable(cluster.steps), '');
  }
  return out;
}

/**
 * Where a cluster step's CPU went (each process, percent of one core) and
 * what crossed NATS: messages and bytes each node published and received per
 * second, and NATS bytes (in and out of nats-server) per delivered stanza.
 */
function clusterCostTable(steps: FanoutStep[]): string[] {
  const measured = steps.filter((step) => step.usage.serverProcesses && step.usage.nats);
  if (measured.length === 0) return [];
  const processes = measured[0]!.usage.serverProcesses!.map((process) => process.name);
  const nodes = measured[0]!.usage.nats!.nodes.map((node) => node.node);
  const perSecond = (value: number, step: FanoutStep): string => figure(value / step.usage.wallSeconds);
  return [
    'Cluster cost per step: CPU of each process (% of one core); per node, NATS messages/s published → received and KiB/s ' +
      'published → received; NATS bytes (in + out of nats-server) and server CPU microseconds per delivered stanza.',
    '',
    table(
      ['offered/s', ...processes.map((name) => `${name} CPU`), ...nodes.map((node) => `${node} msgs/s`), ...nodes.map((node) => `${node} KiB/s`), 'NATS B/delivery', 'CPU µs/delivery'],
      measured.map((step) => {
        const { nats, serverProcesses } = step.usage;
        const nodeTraffic = nodes.map((node) => nats!.nodes.find((candidate) => candidate.node === node));
        return [
          figure(step.offeredDeliveriesPerSecond),
          ...processes.map((name) => percentOfCore(serverProcesses!.find((process) => process.name === name)?.cpuSeconds ?? null, step.usage)),
          ...nodeTraffic.map((t) => (t ? `${perSecond(t.inMsgs, step)} → ${perSecond(t.outMsgs, step)}` : '—')),
          ...nodeTraffic.map((t) => (t ? `${perSecond(t.inBytes / 1024, step)} → ${perSecond(t.outBytes / 1024, step)}` : '—')),
          step.delivered === 0 ? '—' : figure((nats!.server.inBytes + nats!.server.outBytes) / step.delivered),
          step.delivered === 0 || step.usage.serverCpuSeconds === null ? '—' : figure((step.usage.serverCpuSeconds * 1e6) / step.delivered),
        ];
      }),
    ),
  ];
}

function equalLoadTable(run: CompareRun, workload: WorkloadEntry, names: string[]): string[] {
  const results = names.map((server) => resultOf(run, workload.name, server, 'fanout'));
  const rates = [...new Set(results.flatMap((result) => result?.steps.map((step) => step.offeredDeliveriesPerSecond) ?? []))].sort(
    (a, b) => a - b,
  );
  const cell = (result: FanoutResult | null, rate: number): string => {
    const step = result?.steps.find((candidate) => candidate.offeredDeliveriesPerSecond === rate);
    if (!step) return '';
    const text = `${figure(step.latency.p50)} / ${figure(step.latency.p99)}`;
    return step.failure ? `**${text} (${step.failure === 'loss' ? `lost ${step.lost}` : 'p99'})**` : text;
  };
  return [
    'p50 / p99 latency in ms at each offered rate (delivered stanzas/s); bold: the step failed, and the ladder stopped.',
    '',
    table(
      ['offered/s', ...names],
      rates.map((rate) => [figure(rate), ...results.map((result) => cell(result, rate))]),
    ),
  ];
}

function usageCells(usage: ResourceUsage, cores: number): string[] {
  return [
    percentOfCore(usage.serverCpuSeconds, usage),
    percentOfCore(usage.generatorCpuSeconds, usage),
    percentOfCore(usage.otherCpuSeconds, usage),
    `${Math.round(machineBusy(usage, cores) * 100)}%`,
    busiestThread(usage),
  ];
}

/** The busiest server thread, its cores and its share of the server's CPU: "main 0.64 (56%)". */
function busiestThread(usage: ResourceUsage): string {
  const busiest = usage.serverThreads?.[0];
  const share = busiestThreadShare(usage);
  return busiest === undefined ? '—' : `${busiest.thread} ${busiest.cores}${share === null ? '' : ` (${Math.round(share * 100)}%)`}`;
}

const USAGE_HEADER = ['server CPU', 'generator CPU', 'other CPU', 'machine busy', 'busiest thread (cores, share)'];

function detailTable(run: CompareRun, workload: WorkloadEntry, names: string[]): string[] {
  switch (workload.scenario as ScenarioResult['scenario']) {
    case 'fanout':
      return names.flatMap((server) => {
        const result = resultOf(run, workload.name, server, 'fanout');
        if (!result) return [];
        return [
          `**${server}**`,
          '',
          table(
            ['offered/s', 'delivered/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'lost', ...USAGE_HEADER, 'per server CPU-s', 'ceiling/s'],
            result.steps.map((step) => [
              figure(step.offeredDeliveriesPerSecond),
              figure(step.deliveredPerSecond),
              figure(step.latency.p50),
              figure(step.latency.p95),
              figure(step.latency.p99),
              figure(step.latency.max),
              figure(step.lost),
              ...usageCells(step.usage, run.machine.cores),
              figure(step.deliveriesPerServerCpuSecond),
              figure(step.ceilingPerSecond),
            ]),
          ),
          '',
        ];
      });
    case 'join-storm':
      return [
        table(
          ['server', 'joined', 'failed', 'seconds', 'joins/s', 'p50 ms', 'p99 ms', ...USAGE_HEADER, 'joins per server CPU-s', 'each storm, joins/s'],
          names.flatMap((server) => {
            const r = resultOf(run, workload.name, server, 'join-storm');
            // Results written before storms were repeated have none.
            const each = (r?.storms ?? []).map((storm) => figure(storm.joinsPerSecond)).join(' / ');
            return r
              ? [[server, figure(r.joined), figure(r.failed), figure(r.seconds), figure(r.joinsPerSecond), figure(r.latency.p50), figure(r.latency.p99), ...usageCells(r.usage, run.machine.cores), figure(r.joinsPerServerCpuSecond), each]]
              : [];
          }),
        ),
      ];
    case 'large-room':
      return [
        table(
          ['server', 'joined', 'failed', 'seconds', 'p50 ms', 'p99 ms', ...USAGE_HEADER, 'server RSS after, KiB'],
          names.flatMap((server) => {
            const r = resultOf(run, workload.name, server, 'large-room');
            return r
              ? [[server, figure(r.joined), figure(r.failed), figure(r.seconds), figure(r.latency.p50), figure(r.latency.p99), ...usageCells(r.usage, run.machine.cores), figure(r.usage.serverRssKiB)]]
              : [];
          }),
        ),
      ];
    case 'mobile-reconnect':
      return [
        table(
          ['server', 'round', 'back', 'resumed', 'failed', 'seconds', 'p50 ms', 'p99 ms', ...USAGE_HEADER],
          names.flatMap((server) => {
            const r = resultOf(run, workload.name, server, 'mobile-reconnect');
            if (!r) return [];
            return ([['with resumption', r.withResumption], ['without', r.withoutResumption]] as const).map(([name, round]) => [
              server,
              name,
              figure(round.back),
              figure(round.resumed),
              figure(round.failed),
              figure(round.seconds),
              figure(round.latency.p50),
              figure(round.latency.p99),
              ...usageCells(round.usage, run.machine.cores),
            ]);
          }),
        ),
      ];
    case 'idle-memory':
      return [
        table(
          ['server', 'RSS idle, KiB', 'connected', 'joined', 'per connection', 'per occupant (join only)', 'per occupant (all told)'],
          names.flatMap((server) => {
            const r = resultOf(run, workload.name, server, 'idle-memory');
            return r
              ? [[server, figure(r.baselineRssKiB), figure(r.connectedRssKiB), figure(r.joinedRssKiB), figure(r.perConnectionKiB), figure(r.perOccupantKiB), figure(r.perJoinedClientKiB)]]
              : [];
          }),
        ),
      ];
    case 'acked-writes':
      return [
        table(
          ['server', 'acknowledged', 'failed', 'per second', 'ack p50 ms', 'ack p99 ms', 'ack max ms', ...USAGE_HEADER, 'per server CPU-s'],
          names.flatMap((server) => {
            const r = resultOf(run, workload.name, server, 'acked-writes');
            return r
              ? [[server, figure(r.acknowledged), figure(r.failed), figure(r.acknowledgedPerSecond), figure(r.latency.p50), figure(r.latency.p99), figure(r.latency.max), ...usageCells(r.usage, run.machine.cores), figure(r.acknowledgedPerServerCpuSecond)]]
              : [];
          }),
        ),
      ];
    case 'overload':
      return [
        `Targets: others' p99 under ${OVERLOAD_TARGETS.othersP99Ms} ms during the flood, ${OVERLOAD_TARGETS.readersDisconnected} readers disconnected, ` +
          `peak RSS under ${OVERLOAD_TARGETS.peakRssRatio}× the pre-flood figure. "Flood written" counts what the flooder wrote, ` +
          'the server having read it or not (a throttled flood waits in the TCP buffers and trickles in afterwards). ' +
          "Observers are back from the first of 3 windows in a row whose p99 is within 2× baseline (or +10 ms), the backlog drained once the readers have it " +
          '(or it stopped coming: refused or dropped); recovery is the later of the two, from the end of the flood.',
        '',
        table(
          ['server', 'baseline p99 ms', 'flood p50 ms', 'flood p99 ms', 'flood max ms', 'observer msgs lost', 'flood written', 'written/s', 'flooder dropped', 'readers got', 'reader p99 ms', 'readers dropped', 'RSS before, KiB', 'RSS peak, KiB', 'peak ×', 'observers back', 'backlog drained', 'recovery', ...USAGE_HEADER],
          names.flatMap((server) => {
            const r = resultOf(run, workload.name, server, 'overload');
            return r
              ? [[server, figure(r.baseline.p99), figure(r.duringFlood.p50), figure(r.duringFlood.p99), figure(r.duringFlood.max), figure(r.duringFloodLost), figure(r.floodSent), figure(r.floodWrittenPerSecond), r.flooderDisconnected ? 'yes' : 'no', `${figure(r.readerDelivered)} of ${figure(r.readerExpected)}`, figure(r.readerLatency.p99), figure(r.readersDisconnected), figure(r.rssBeforeKiB), figure(r.rssPeakKiB), figure(r.peakRssRatio), recoveryFigure(r.observersRecoveredSeconds, r), recoveryFigure(r.backlogDrainedSeconds, r), recoveryFigure(r.recoverySeconds, r), ...usageCells(r.usage, run.machine.cores)]]
              : [];
          }),
        ),
      ];
    case 'presence-churn':
      return [
        table(
          ['server', 'sent', 'delivered/s', 'p50 ms', 'p99 ms', 'max ms', 'rejoins', 'failed', 'rejoin p50 ms', 'rejoin p99 ms', ...USAGE_HEADER],
          names.flatMap((server) => {
            const r = resultOf(run, workload.name, server, 'presence-churn');
            return r
              ? [[server, figure(r.sent), figure(r.deliveredPerSecond), figure(r.latency.p50), figure(r.latency.p99), figure(r.latency.max), figure(r.churnCycles), figure(r.churnFailed), figure(r.churnLatency.p50), figure(r.churnLatency.p99), ...usageCells(r.usage, run.machine.cores)]]
              : [];
          }),
        ),
      ];
  }
}
