// Test support: Prosody and ejabberd from Debian as the XMPP servers Conclave
// attaches to as a component. Each runs in the foreground as our child, with
// its own configuration and data in a temporary folder, on free loopback
// ports, and is stopped and removed by the test.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningServer } from '../../src/frontend/server.js';

/** The XEP-0114 secret the peers share with Conclave in these tests. */
export const COMPONENT_SECRET = 'component-test-secret';
export const MUC_DOMAIN = 'conference.localhost';

/** A peer must accept connections on its ports this soon after it starts. */
const READY_TIMEOUT_MS = 30_000;
/** After SIGTERM, how long a peer may take to shut down before it is killed. */
const STOP_TIMEOUT_MS = 10_000;

export interface PeerServer {
  /** Its client-to-server port. */
  c2sPort: number;
  /** Its XEP-0114 component port. */
  componentPort: number;
  /** Stops it and starts it again with the same configuration and ports. */
  restart(): Promise<void>;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

/** startTestServer overrides: Conclave as the peer's component over `connections` links, without its client listener. */
export function componentOverrides(peer: PeerServer, connections: number): Record<string, unknown> {
  return {
    client: { enabled: false },
    component: { enabled: true, host: '127.0.0.1', port: peer.componentPort, secret: COMPONENT_SECRET, connections },
  };
}

/** Liveness pings after short idle intervals, so a peer that left them unanswered would see its links dropped within a test. */
export const PEER_LIVENESS = { idleMs: 200, pingTimeoutMs: 3_000 };

/**
 * Waits until every link has had three pings answered (the test timeout bounds
 * the wait); true if none was dropped meanwhile.
 */
export async function linksAnswerPings(server: RunningServer): Promise<boolean> {
  const answered = () => server.component!.stats().every((link) => link.pingsAnswered >= 3);
  while (!answered()) await sleep(PEER_LIVENESS.idleMs);
  return server.component!.stats().every((link) => link.up && link.authentications === 1);
}

/** The files that tell a Debian peer is installed. */
const PEER_BINARIES = { prosody: '/usr/bin/prosody', ejabberd: '/usr/sbin/ejabberdctl' } as const;

/**
 * Why the tests of a peer must be skipped: only when it is not installed and
 * this is not CI. Under CI (which installs the peers) a missing peer fails.
 */
export function peerSkipReason(peer: keyof typeof PEER_BINARIES): string | false {
  if (process.env.CI || existsSync(PEER_BINARIES[peer])) return false;
  return `${peer} is not installed (no ${PEER_BINARIES[peer]}): apt-get install ${peer}, as .ci/run does`;
}

/**
 * Prosody 0.12 with a `conference.localhost` external component; any password
 * logs in (`authentication = "insecure"`), so the scripts' accounts
 * (user, user2, user3 @localhost, password "password") need no registration.
 * `modules` adds Prosody modules (the account services, to compare ours with).
 */
export function startProsody(modules: string[] = []): Promise<PeerServer> {
  return startPeer('prosody', (folder, c2sPort, componentPort) => {
    const config = join(folder, 'prosody.cfg.lua');
    writeFileSync(
      config,
      `-- Written by test/helpers/peers.ts
run_as_root = true -- CI runs as root; Prosody refuses to otherwise
pidfile = "${folder}/prosody.pid"
data_path = "${folder}"
log = { info = "${folder}/prosody.log" }
storage = "memory"
authentication = "insecure"
insecure_open_authentication = "Yes please, I know what I'm doing!"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
modules_enabled = { "saslauth"; "disco"; "ping"${modules.map((name) => `; "${name}"`).join('')} }
modules_disabled = { "s2s" }
c2s_ports = { ${c2sPort} }
c2s_interfaces = { "127.0.0.1" }
component_ports = { ${componentPort} }
component_interfaces = { "127.0.0.1" }

VirtualHost "localhost"

Component "${MUC_DOMAIN}"
	component_secret = "${COMPONENT_SECRET}"
`,
    );
    return { command: 'prosody', args: ['--config', config, '-F'], log: join(folder, 'prosody.log') };
  });
}

/**
 * ejabberd 23.01 as a bare Erlang VM (no epmd, no ejabberdctl), with an
 * `ejabberd_service` listener for `conference.localhost` that accepts
 * `connections` component connections, balanced by the bare destination JID
 * so that each room stays on one of them. Any credentials log in.
 */
export function startEjabberd(connections: number): Promise<PeerServer> {
  return startPeer('ejabberd', (folder, c2sPort, componentPort) => {
    const config = join(folder, 'ejabberd.yml');
    writeFileSync(
      config,
      `# Written by test/helpers/peers.ts
hosts:
  - "localhost"
loglevel: info
auth_method: anonymous
anonymous_protocol: both
allow_multiple_connections: true
listen:
  -
    port: ${c2sPort}
    ip: "127.0.0.1"
    module: ejabberd_c2s
  -
    port: ${componentPort}
    ip: "127.0.0.1"
    module: ejabberd_service
    hosts:
      "${MUC_DOMAIN}":
        password: "${COMPONENT_SECRET}"
domain_balancing:
  "${MUC_DOMAIN}":
    type: bare_destination
    component_number: ${connections}
modules:
  mod_disco: {}
  mod_ping: {}
`,
    );
    const log = join(folder, 'ejabberd.log');
    return {
      command: 'erl',
      args: ['-noshell', '-noinput', '-mnesia', 'dir', `"${join(folder, 'mnesia')}"`, '-s', 'ejabberd'],
      env: { EJABBERD_CONFIG_PATH: config, EJABBERD_LOG_PATH: log, ERL_LIBS: '/usr/lib/x86_64-linux-gnu' },
      log,
    };
  });
}

interface Launch {
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** The peer's log file, shown when it fails to start. */
  log: string;
}

async function startPeer(
  name: string,
  configure: (folder: string, c2sPort: number, componentPort: number) => Launch,
): Promise<PeerServer> {
  const folder = await mkdtemp(join(tmpdir(), `conclave-${name}-`));
  const c2sPort = await freePort();
  const componentPort = await freePort();
  const launch = configure(folder, c2sPort, componentPort);
  const output = join(folder, 'output.log');
  let child: ChildProcess | undefined;

  const start = async () => {
    const out = openSync(output, 'a');
    // HOME: Erlang writes its cookie there.
    child = spawn(launch.command, launch.args, {
      cwd: folder,
      env: { ...process.env, HOME: folder, ...launch.env },
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    const exited = new Promise<never>((_, reject) =>
      child!.once('exit', (code, signal) => reject(new Error(`${name} exited (${code ?? signal})`))),
    );
    exited.catch(() => undefined);
    try {
      await Promise.race([Promise.all([waitForPort(c2sPort), waitForPort(componentPort)]), exited]);
    } catch (err) {
      await stopChild();
      throw new Error(`${name} did not start: ${(err as Error).message}\n${tail(output)}\n${tail(launch.log)}`);
    }
  };
  const stopChild = async () => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    const killer = setTimeout(() => running.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(killer);
  };

  try {
    await start();
  } catch (err) {
    await rm(folder, { recursive: true, force: true });
    throw err;
  }
  return {
    c2sPort,
    componentPort,
    async restart() {
      await stopChild();
      await start();
    },
    async stop() {
      await stopChild();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/** A port that was free a moment ago (the peer binds it itself, so the kernel cannot hand it over). */
async function freePort(): Promise<number> {
  const probe = createServer().listen({ host: '127.0.0.1', port: 0 });
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${READY_TIMEOUT_MS} ms`);
    await sleep(100);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}
