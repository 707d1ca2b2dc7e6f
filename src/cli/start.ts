// `conclave start [--config FILE] [--profile NAME]`: runs the server until
// SIGINT or SIGTERM, then shuts it down cleanly within a bounded time. SIGHUP
// reloads the configuration and applies what can change live.

import { resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, namingFile, type LoadOptions, type Settings } from '../config/load.js';
import { startServer, type RunningServer } from '../frontend/server.js';

const USAGE = `usage: conclave start [--config FILE] [--profile NAME]

Starts the XMPP server (and its MUC service) on config/default.yaml, with
config/NAME.yaml and then FILE layered over it. SIGINT or SIGTERM shut it down
cleanly; SIGHUP reloads the log level, the limits and the TLS certificate.`;

/** A shutdown that takes longer (a stuck shard, a peer that never closes) ends the process anyway. */
const SHUTDOWN_LIMIT_MS = 10_000;

export async function main(args: string[]): Promise<number> {
  let options;
  try {
    options = parseArgs({ args, options: { config: { type: 'string' }, profile: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (err) {
    console.error(`conclave start: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const load: LoadOptions = { file: options.config, profile: options.profile };
  // Listened for before the banner is printed: whoever reads it may signal at once.
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  let running: RunningServer | undefined;
  process.on('SIGHUP', () => running && reload(running, load));
  const settings = loadConfig(load);
  const server = (running = await startServer(settings).catch((err: unknown) => {
    throw namingFile(err, settings);
  }));
  console.log(banner(server, options.config));
  const signal = await stopped;
  console.log(`${signal}: shutting down`);
  // A cluster node may first take cluster.drain_timeout_ms to hand its rooms over.
  const limit = SHUTDOWN_LIMIT_MS + (settings.cluster?.drain_timeout_ms ?? 0);
  const deadline = setTimeout(() => {
    console.error(`conclave start: shutdown took over ${limit / 1000} s; exiting without finishing it`);
    process.exit(1);
  }, limit);
  deadline.unref();
  await server.close();
  clearTimeout(deadline);
  return 0;
}

/** What an operator needs to know at start: where it listens, with or without TLS, and who can log in. */
function banner(server: RunningServer, configFile: string | undefined): string {
  const { settings } = server;
  const lines = [`Conclave for ${settings.domain}`];
  if (settings.client.enabled) {
    const tls = settings.client.tls_cert === null ? 'no TLS (set client.tls_cert and client.tls_key)' : `STARTTLS required (${settings.client.tls_cert})`;
    lines.push(`  clients    listening on ${settings.client.host}:${server.port}, ${tls}`);
  }
  if (settings.websocket.enabled) {
    const scheme = settings.client.tls_cert === null ? 'ws:// (no TLS)' : 'wss://';
    lines.push(`  websocket  listening on ${settings.websocket.host}:${server.websocketPort}${settings.websocket.path}, ${scheme}`);
  }
  if (settings.http.enabled) {
    lines.push(`  http       listening on ${settings.http.host}:${server.httpPort}: /metrics, /health, /ready, /status`);
  }
  if (settings.component.enabled) {
    lines.push(`  component  ${settings.component.connections} link(s) to ${settings.component.host}:${settings.component.port} (XEP-0114)`);
  }
  lines.push(`  MUC        ${settings.muc.domain} on ${settings.shardCount} shard(s)`);
  if (server.cluster) {
    lines.push(`  cluster    node ${server.cluster.self} of ${server.cluster.members.join(', ')} (NATS ${settings.cluster!.nats.servers.join(', ')})`);
  }
  lines.push(`  data       ${resolvePath(settings.data_dir)}`);
  lines.push(`  auth       ${settings.auth.backend}${settings.auth.backend === 'insecure' ? ' (any password logs in)' : ''}`);
  if (server.noAccounts) {
    const config = configFile === undefined ? '' : ` --config ${configFile}`;
    lines.push(`No accounts yet: add the first with  npx conclave adduser USER@${settings.domain}${config}`);
  }
  return lines.join('\n');
}

function reload(server: RunningServer, load: LoadOptions): void {
  let next: Settings | undefined;
  let needRestart: string[];
  try {
    next = loadConfig(load);
    needRestart = server.reload(next);
  } catch (err) {
    const named = next === undefined ? err : namingFile(err, next);
    console.error(`SIGHUP: configuration not reloaded: ${(named as Error).message}`);
    return;
  }
  console.log(`SIGHUP: reloaded the log level, limits and TLS certificate from ${next.sources.join(', ')}`);
  if (needRestart.length > 0) console.log(`SIGHUP: changed but only applied by a restart: ${needRestart.join(', ')}`);
}
