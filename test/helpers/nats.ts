// Test support: a real nats-server with JetStream (Debian's /usr/sbin/nats-server)
// on an ephemeral loopback port, its store in a scratch folder removed on stop.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterSettings } from '../../src/store/jetstream/connect.js';

export interface TestNats {
  url: string;
  /** Stops the server and starts it again on the same port and store, as after an outage. */
  restart(): Promise<void>;
  /** Stops the server, keeping its store for `restart`. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** The `cluster:` settings of node `node` on this NATS, with the default bucket and stream names. */
export function clusterSettings(nats: TestNats, node: string): ClusterSettings {
  return {
    node,
    nats: { servers: [nats.url] },
    subject_prefix: 'conclave',
    max_pending_bytes_per_peer: 16 * 1024 * 1024,
    batch_delay_ms: 2,
    drain_timeout_ms: 5_000,
    store: { rooms_bucket: 'conclave_rooms', archive_stream: 'conclave_archive', accounts_bucket: 'conclave_accounts', replicas: 1 },
  };
}

/** `maxPayload`: the largest message the server takes (NATS's default is 1 MiB). */
export async function startNats(options: { maxPayload?: number } = {}): Promise<TestNats> {
  const storeDir = await mkdtemp(join(tmpdir(), 'conclave-nats-'));
  const config = join(storeDir, 'nats.conf');
  await writeFile(config, options.maxPayload === undefined ? '' : `max_payload: ${options.maxPayload}\n`);
  const launch = (port: string) => launchIn(storeDir, config, port);
  let server = await launch('-1');
  const url = server.url;
  const port = url.slice(url.lastIndexOf(':') + 1);
  const kill = async () => {
    if (server.child.exitCode === null) server.child.kill('SIGTERM');
    await server.exited;
  };
  return {
    url,
    kill,
    async restart() {
      await kill();
      server = await launch(port);
    },
    async stop() {
      await kill();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}

interface Launched {
  child: ChildProcess;
  url: string;
  exited: Promise<void>;
}

/** Starts nats-server on `port` (-1: any) and resolves once it accepts clients. */
async function launchIn(storeDir: string, config: string, port: string): Promise<Launched> {
  const child = spawn('nats-server', ['-c', config, '-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', port], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // It names the port it picked once it accepts clients.
      const match = /Listening for client connections on (\S+:\d+)/.exec(output);
      if (match) {
        child.stderr!.off('data', onData);
        child.stderr!.resume();
        resolve(`nats://${match[1]}`);
      }
    };
    child.stderr!.on('data', onData);
    void exited.then(() => reject(new Error(`nats-server exited before listening:\n${output}`)));
    child.on('error', reject);
  });
  return { child, url, exited };
}
