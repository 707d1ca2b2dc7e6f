// What /proc tells about the server under test and the machine: CPU time and
// resident memory of a process with all its descendants (ejabberd's VM and
// Prosody may start helpers), the machine's busy time, and which process listens
// on a TCP port, so `conclave bench` can find the server by its port.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** USER_HZ: clock ticks per second in /proc/PID/stat; 100 on every Linux architecture Node runs on. */
const TICKS_PER_SECOND = 100;

interface ProcessStat {
  pid: number;
  /** The command name: a thread's name for a thread's stat. */
  name: string;
  parent: number;
  cpuTicks: number;
}

/** `/proc/PID/stat`, or a thread's `/proc/PID/task/TID/stat` (`pid` is then the thread id). */
function readStat(pid: number, file = `/proc/${pid}/stat`): ProcessStat | null {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces.
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  // After the name: state(3) ppid(4) ... utime(14) stime(15), so index = field - 3.
  return { pid, name: text.slice(text.indexOf('(') + 1, close), parent: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** The process and every descendant still alive. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of allPids()) {
    const stat = readStat(pid);
    if (!stat) continue;
    const siblings = children.get(stat.parent) ?? [];
    siblings.push(pid);
    children.set(stat.parent, siblings);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

/** User + system CPU seconds used so far by the process tree, or null when it is gone. */
export function treeCpuSeconds(root: number): number | null {
  let ticks = 0;
  let found = false;
  for (const pid of processTree(root)) {
    const stat = readStat(pid);
    if (!stat) continue;
    found = true;
    ticks += stat.cpuTicks;
  }
  return found ? ticks / TICKS_PER_SECOND : null;
}

/**
 * CPU seconds used so far by each thread of the process tree, by label: the
 * thread's name (Node >= 22 names its threads, Node 20 calls all of them
 * "node") and id; a process's first thread is "main" for the root.
 */
export function threadCpuSeconds(root: number): Map<string, number> {
  const threads = new Map<string, number>();
  for (const pid of processTree(root)) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // Exited between the listing and the read.
    }
    for (const tid of tids) {
      const stat = readStat(Number(tid), `/proc/${pid}/task/${tid}/stat`);
      if (stat) threads.set(stat.pid === root ? 'main' : `${stat.name} ${tid}`, stat.cpuTicks / TICKS_PER_SECOND);
    }
  }
  return threads;
}

/** Resident set size of the process tree in KiB, or null when it is gone. */
export function treeRssKiB(root: number): number | null {
  let total = 0;
  let found = false;
  for (const pid of processTree(root)) {
    try {
      const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
      if (match) total += Number(match[1]);
      found = true;
    } catch {
      // Exited between the listing and the read.
    }
  }
  return found ? total : null;
}

/** CPU seconds the whole machine has spent busy (all cores, everything but idle and iowait). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / TICKS_PER_SECOND;
}

/** The 1-, 5- and 15-minute load averages. */
export function loadAverage(): [number, number, number] {
  const [one, five, fifteen] = readFileSync('/proc/loadavg', 'latin1').split(' ').map(Number);
  return [one ?? 0, five ?? 0, fifteen ?? 0];
}

/** The process that holds a listening TCP socket on the port, or null (not found, or not ours to see). */
export function findListeningPid(port: number): number | null {
  const inodes = new Set<string>();
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; st 0A is LISTEN; field 10 is the inode.
      if (fields[1]?.endsWith(`:${portHex}`) && fields[3] === '0A') inodes.add(fields[9]!);
    }
  }
  if (inodes.size === 0) return null;
  for (const pid of allPids()) {
    let descriptors: string[];
    try {
      descriptors = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of descriptors) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match && inodes.has(match[1]!)) return pid;
      } catch {
        // Closed while we looked.
      }
    }
  }
  return null;
}
