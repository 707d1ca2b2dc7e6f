// Test support: a real nats-server with JetStream (Debian's /usr/sbin/nats-server)
// on an ephemeral loopback port, its store in a scratch folder removed on stop.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestNats {
  url: string;
  stop(): Promise<void>;
}

export async function startNats(): Promise<TestNats> {
  const storeDir = await mkdtemp(join(tmpdir(), 'conclave-nats-'));
  const child = spawn('nats-server', ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', '-1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      // It names the port it picked once it accepts clients.
      const match = /Listening for client connections on (\S+:\d+)/.exec(output);
      if (match) resolve(`nats://${match[1]}`);
    });
    void exited.then(() => reject(new Error(`nats-server exited before listening:\n${output}`)));
    child.on('error', reject);
  });
  return {
    url,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
