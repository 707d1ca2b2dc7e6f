// The floors of src (docs/DESIGN.md, "Floors"): each part imports only from
// the floors below it, never up, and not sideways unless the table says so.
// Read from the TypeScript sources, so the test fails on the import itself.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SRC = join(ROOT, 'src');

/**
 * Floor by part. A part is a folder of src, or a file named on its own where
 * it sits on another floor than its folder.
 */
const FLOORS: Record<string, number> = {
  // Ground: no XMPP yet.
  'xml': 0,
  'jid': 0,
  'config': 0,
  'log.ts': 0,
  // The per-thread counters every floor bumps; the rest of ops reads them.
  'ops/counters.ts': 0,
  'ops/thread-load.ts': 0,
  // The protocol: namespaces, replies and errors, SCRAM credentials.
  'xmpp': 1,
  // Storage, and the shard runtime that runs any application.
  'store': 2,
  'runtime': 2,
  // The application the shards run.
  'muc': 3,
  // The server for clients: connections, routing, and the account services
  // that hook its sessions.
  'frontend': 4,
  'account': 4,
  // The nodes of a cluster: they route between the front ends and the shards of several servers.
  'cluster': 5,
  // What watches the server (metrics, status) and what drives it from outside (scansion scripts).
  'ops': 5,
  'scansion': 5,
  // What puts the parts together and starts them; the benchmarks (outside src) that start servers.
  'frontend/server.ts': 6,
  '../bench': 6,
  // The command line.
  'cli': 7,
};

/**
 * Parts of one floor that may import each other: the front end runs the
 * account services, which act on its sessions; a thread's load report carries its counters.
 */
const SIDEWAYS = new Set(['frontend -> account', 'account -> frontend', 'ops/thread-load.ts -> ops/counters.ts']);

/** The part a file belongs to, from its path relative to src (`../bench/…` for one outside). */
function partOf(file: string): string {
  if (Object.hasOwn(FLOORS, file)) return file;
  const [first, second] = file.split('/');
  return first === '..' ? `../${second}` : first;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The relative module specifiers a source imports or re-exports, static or dynamic. */
function importsOf(source: string): string[] {
  const specifiers: string[] = [];
  const pattern = /(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s*'([^']+)'|\bimport\s*\(\s*'([^']+)'\s*\)|(?:^|\n)\s*import\s*'([^']+)'/g;
  for (const match of source.matchAll(pattern)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    if (specifier.startsWith('.')) specifiers.push(specifier);
  }
  return specifiers;
}

/** Every import that goes up a floor or sideways against the table, as "file imports specifier (why)". */
function wrongImports(): string[] {
  const wrong: string[] = [];
  for (const path of sourceFiles(SRC)) {
    const file = relative(SRC, path);
    const from = partOf(file);
    for (const specifier of importsOf(readFileSync(path, 'utf8'))) {
      const target = relative(SRC, resolve(dirname(path), specifier)).replace(/\.js$/, '.ts');
      const to = partOf(target);
      if (to === from) continue;
      const [fromFloor, toFloor] = [FLOORS[from], FLOORS[to]];
      if (fromFloor === undefined || toFloor === undefined) {
        wrong.push(`src/${file} imports ${specifier} (${fromFloor === undefined ? from : to} has no floor)`);
      } else if (toFloor > fromFloor) {
        wrong.push(`src/${file} imports ${specifier} (up: ${from} is on floor ${fromFloor}, ${to} on ${toFloor})`);
      } else if (toFloor === fromFloor && !SIDEWAYS.has(`${from} -> ${to}`)) {
        wrong.push(`src/${file} imports ${specifier} (sideways on floor ${fromFloor}: ${from} -> ${to})`);
      }
    }
  }
  return wrong;
}

test('every part of src has a floor', () => {
  const parts = new Set(sourceFiles(SRC).map((path) => partOf(relative(SRC, path))));
  assert.deepEqual([...parts].filter((part) => !Object.hasOwn(FLOORS, part)), []);
});

test('the import scanner sees every form of import', () => {
  const source = [
    "import { a } from './a.js';",
    "import type {\n  B,\n} from '../b.js';",
    "export { c } from './c.js';",
    "export * from './d.js';",
    "import './e.js';",
    "const f = await import('./f.js');",
    "import { g } from 'node:g';",
  ].join('\n');
  assert.deepEqual(importsOf(source), ['./a.js', '../b.js', './c.js', './d.js', './e.js', './f.js']);
});

test('every import in src goes down the floors, or sideways where the table allows it', () => {
  assert.deepEqual(wrongImports(), []);
});
