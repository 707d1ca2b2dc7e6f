#!/usr/bin/env node
// The `conclave` command: dispatches to one module per subcommand. Each module
// exports `main(args)`, resolving to the process exit code.

const COMMANDS: Record<string, { module: string; summary: string }> = {
  start: { module: './start.js', summary: 'start the server (--config FILE, --profile NAME)' },
  scansion: { module: './scansion.js', summary: 'run scansion scripts against an XMPP server' },
  adduser: { module: './accounts.js', summary: 'create an account: adduser JID [PASSWORD]' },
  deluser: { module: './accounts.js', summary: 'delete an account: deluser JID' },
  passwd: { module: './accounts.js', summary: "change an account's password: passwd JID [PASSWORD]" },
  bench: { module: './bench.js', summary: 'run a benchmark scenario against a server' },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(9)} ${summary}`);
  return ['usage: conclave COMMAND [options]', '', ...lines].join('\n');
}

const [name, ...args] = process.argv.slice(2);
const command = name === undefined ? undefined : COMMANDS[name];
if (!command) {
  console.error(usage());
  process.exitCode = name === undefined || name === '--help' ? 0 : 2;
} else {
  const module = (await import(command.module)) as { main(args: string[], command: string): Promise<number> };
  process.exitCode = await module.main(args, name);
}
