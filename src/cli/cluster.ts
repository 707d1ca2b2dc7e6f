// `conclave cluster status [--config FILE] [--profile NAME]`: asks every node
// of the cluster named by the configuration's `cluster:` section, over NATS,
// for its view of the members, its rooms and its sessions, and prints a row
// per node that answered.

import { parseArgs } from 'node:util';
import { connect, RequestStrategy } from 'nats';
import { clusterSubjects } from '../cluster/connection.js';
import type { NodeStatus } from '../cluster/node.js';
import { ConfigError, loadConfig } from '../config/load.js';

const USAGE = `usage: conclave cluster status [--config FILE] [--profile NAME] [--wait MS]

Asks the nodes of the cluster in the configuration's cluster: section (its
NATS servers) for their members, rooms and sessions, and prints one row per
node that answered within --wait milliseconds (default 1000). Exit code 1 when
none did.`;

const OPTIONS = { config: { type: 'string' }, profile: { type: 'string' }, wait: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

export async function main(args: string[]): Promise<number> {
  let command: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof OPTIONS }>>;
  try {
    command = parseArgs({ args, allowPositionals: true, options: OPTIONS });
  } catch (err) {
    console.error(`conclave cluster: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = command;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const wait = Number(values.wait ?? 1000);
  if (positionals.join(' ') !== 'status' || !Number.isInteger(wait) || wait <= 0) {
    console.error(USAGE);
    return 2;
  }
  const settings = loadConfig({ file: values.config, profile: values.profile });
  const file = settings.sources[settings.sources.length - 1];
  if (settings.cluster === null) throw new ConfigError(`${file} has no cluster: section (cluster.node and cluster.nats.servers)`);
  const servers = settings.cluster.nats.servers;
  const nats = await connect({ servers, name: 'conclave-cluster-status' }).catch((err: Error) => {
    throw new ConfigError(`cannot reach NATS at ${servers.join(', ')} (cluster.nats.servers in ${file}): ${err.message}`);
  });
  const nodes: NodeStatus[] = [];
  try {
    const replies = await nats.requestMany(clusterSubjects(settings.cluster.subject_prefix).status, '', { strategy: RequestStrategy.Timer, maxWait: wait });
    for await (const reply of replies) nodes.push(reply.json<NodeStatus>());
  } catch (err) {
    // No node listening is an answer too: an empty cluster.
    if (!/503|no responders/i.test(String((err as Error).message ?? err))) throw err;
  } finally {
    await nats.close();
  }
  console.log(table(nodes, servers));
  return nodes.length > 0 ? 0 : 1;
}

function table(nodes: NodeStatus[], servers: string[]): string {
  if (nodes.length === 0) return `no node answered on NATS ${servers.join(', ')}`;
  nodes.sort((a, b) => a.node.localeCompare(b.node));
  const rows = [['node', 'rooms', 'sessions', 'members it sees'], ...nodes.map((node) => [node.node, String(node.rooms), String(node.sessions), node.members.join(' ')])];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const lines = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd());
  const total = (key: 'rooms' | 'sessions') => nodes.reduce((sum, node) => sum + node[key], 0);
  return [`${nodes.length} node(s) answered on NATS ${servers.join(', ')}`, ...lines, `total: ${total('rooms')} rooms, ${total('sessions')} sessions`].join('\n');
}
