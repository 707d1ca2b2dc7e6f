#!/usr/bin/env node
// The `conclave` command: dispatches to one module per subcommand. Each module
// exports `main(args)`, resolving to the process exit code.

import { ConfigError } from '../config/load.js';

const COMMANDS: Record<string, { module: string; summary: string }> = {
  start: { module: './start.js', summary: 'start the server (--config FILE, --profile NAME)' },
  scansion: { module: './scansion.js', summary: 'run scansion scripts against an XMPP server' },
  adduser: { module: './accounts.js', summary: 'create an account: adduser JID [PASSWORD]' },
  deluser: { module: './accounts.js', summary: 'delete an account: deluser JID' },
  passwd: { module: './accounts.js', summary: "change an account's password: passwd JID [PASSWORD]" },
  bench: { module: './bench.js', summary: 'run a benchmark scenario against a server' },
  cluster: { module: './cluster.js', summary: "a cluster's nodes, rooms and sessions: cluster status" },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(9)} ${summary}`);
  return ['usage: conclave COMMAND [options]', '', ...lines].join('\n');
}

const HELP = new Set(['--help', '-h', 'help']);

const [name, ...args] = process.argv.slice(2);
const command = name === undefined ? undefined : COMMANDS[name];
if (!command) {
  const help = name === undefined || HELP.has(name);
  (help ? console.log : console.error)(help ? usage() : `conclave: unknown command "${name}"\n\n${usage()}`);
  process.exitCode = help ? 0 : 2;
} else {
  const module = (await import(command.module)) as { main(args: string[], command: string): Promise<number> };
  try {
    process.exitCode = await module.main(args, name);
  } catch (err) {
    // What the operator can fix (a key, a file, a busy port, a data folder) is one line, not a stack trace.
    if (!(err instanceof ConfigError)) throw err;
    console.error(`conclave ${name}: ${err.message}`);
    process.exitCode = 2;
  }
}
