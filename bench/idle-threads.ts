// What a server burns with no traffic, by process and thread: it starts a
// server kind of servers.ts (a cluster: its nodes and nats-server), lets it
// settle, and reads each thread's CPU time from /proc over a while. Under Node
// >= 22 the threads have names (V8Worker: V8's helpers; WorkerThread: a shard);
// Node 20 calls them all "node". It prints figures and asserts nothing.
//
//   node dist/bench/idle-threads.js [KIND] [SECONDS]    (conclave-cluster, 30)

import { setTimeout as sleep } from 'node:timers/promises';
import { loadAverage, threadCpuSeconds } from './server-probe.js';
import { serverKind } from './servers.js';

const SETTLE_MS = 5_000;

const [kindName = 'conclave-cluster', seconds = '30'] = process.argv.slice(2);
const kind = serverKind(kindName);
if (kind === undefined) throw new Error(`no server kind ${kindName}`);
const server = await kind.start({ pin: false, durability: 'flushed', limits: 'lifted', mobile: false });
try {
  await sleep(SETTLE_MS);
  const read = () => new Map(server.processes.map((process) => [`${process.name} ${process.pid}`, threadCpuSeconds(process.pid)]));
  const loadBefore = loadAverage()[0];
  const before = read();
  const started = performance.now();
  await sleep(Number(seconds) * 1000);
  const after = read();
  const elapsed = (performance.now() - started) / 1000;
  const perSecond = (cpu: number): string => `${((cpu / elapsed) * 1000).toFixed(1)} ms/s`;
  let total = 0;
  for (const [name, threads] of after) {
    const used = [...threads].map(([thread, cpu]) => [thread, cpu - (before.get(name)?.get(thread) ?? 0)] as const);
    const sum = used.reduce((all, [, cpu]) => all + cpu, 0);
    total += sum;
    console.log(`${name}: ${perSecond(sum)}`);
    for (const [thread, cpu] of used) if (cpu > 0) console.log(`    ${thread}: ${perSecond(cpu)}`);
  }
  console.log(`${kindName}: ${perSecond(total)} in all over ${elapsed.toFixed(1)} s; load average ${loadBefore} -> ${loadAverage()[0]}`);
} finally {
  await server.stop();
}
