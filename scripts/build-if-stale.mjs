// `npm start`'s build step: runs the TypeScript build only when a source is
// newer than the last build, so a start without changes costs no compile
// (tsc's own incremental check still reads every file: ~10 s on a busy machine).

import { execFileSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const BUILD_INFO = join(root, 'dist/.tsbuildinfo');

function newestChange(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestChange(join(path, name))));
}

function builtAt() {
  try {
    return statSync(BUILD_INFO).mtimeMs;
  } catch {
    return -Infinity;
  }
}

const sources = ['src', 'test', 'bench', 'tsconfig.json', 'package.json'].map((name) => join(root, name));
if (Math.max(...sources.map(newestChange)) > builtAt()) {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
  // tsc leaves its build info alone when nothing needed emitting: mark the check done.
  const now = new Date();
  utimesSync(BUILD_INFO, now, now);
}
