// The LMDB environment under the configured data directory. The front end and
// every shard worker open the same environment; lmdb-js shares it between the
// threads of one process. Each concern keeps its own named database in it.

import { accessSync, constants, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { ConfigError } from '../config/load.js';

export type Database = RootDatabase;

export function openDatabase(dataDir: string): Database {
  const path = resolve(dataDir);
  try {
    mkdirSync(path, { recursive: true });
    accessSync(path, constants.R_OK | constants.W_OK);
    return open({ path: resolve(path, 'conclave.mdb'), maxDbs: 16 });
  } catch (err) {
    throw new ConfigError(`Cannot use the data directory ${path} (data_dir): ${(err as Error).message}`);
  }
}
