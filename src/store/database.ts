// The LMDB environment under the configured data directory. The front end and
// every shard worker open the same environment; lmdb-js shares it between the
// threads of one process. Each concern keeps its own named database in it.

import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { open, type RootDatabase } from 'lmdb';

export type Database = RootDatabase;

export function openDatabase(dataDir: string): Database {
  const path = resolve(dataDir);
  mkdirSync(path, { recursive: true });
  return open({ path: resolve(path, 'conclave.mdb'), maxDbs: 16 });
}
