// Test support: a nats-server (Debian's, /usr/sbin/nats-server) of the test's
// own, on an ephemeral loopback port.

import { spawn, type ChildProcess } from 'node:child_process';

export interface TestNats {
  url: string;
  process: ChildProcess;
  /** Stops the server (SIGTERM) and resolves once it has exited. */
  stop(): Promise<void>;
}

export function startNats(): Promise<TestNats> {
  const child = spawn(process.env.NATS_SERVER ?? 'nats-server', ['-a', '127.0.0.1', '-p', '-1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let output = '';
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Listening for client connections on ([\d.]+:\d+)/.exec(output);
      if (!match || !output.includes('Server is ready')) return;
      child.stderr!.removeAllListeners('data');
      child.stderr!.resume();
      resolve({
        url: `nats://${match[1]}`,
        process: child,
        stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill();
          return exited;
        },
      });
    });
    void exited.then(() => reject(new Error(`nats-server exited before it was ready:\n${output}`)));
  });
}
