// The LMDB environment under the configured data directory. The front end and
// every shard worker open the same environment; lmdb-js shares it between the
// threads of one process. Each concern keeps its own named database in it.
//
// What an acknowledged write means is `storage.durability`. lmdb-js commits
// with overlappingSync on Linux: a write's promise resolves once the
// transaction is committed (visible to every thread, kept if the process
// dies) and the flush to disk follows, so a power loss or kernel crash can
// lose the last writes the server had acknowledged (never the database's
// integrity). `flushed` acknowledges only once the write is on disk.
//
// The server opens it `exclusive`: one server per data directory
// (data-dir-lock.ts); the account commands and the shard workers do not.

import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { ConfigError } from '../config/load.js';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';

export type Durability = 'committed' | 'flushed';

export interface Database extends RootDatabase {
  /**
   * Resolves with a write's result once it is as durable as configured. What
   * the server acknowledges to a user waits on this; writes nobody is told of
   * (the message archive) need not.
   */
  acknowledged<T>(write: Promise<T>): Promise<T>;
}

export function openDatabase(dataDir: string, durability: Durability = 'flushed', { exclusive = false } = {}): Database {
  const path = resolve(dataDir);
  let root: RootDatabase;
  let lock: DataDirLock | undefined;
  try {
    makeDirectories(path);
    if (!statSync(path).isDirectory()) throw new Error('it is not a directory');
    accessSync(path, constants.R_OK | constants.W_OK);
    if (exclusive) lock = lockDataDir(path);
    root = open({ path: resolve(path, 'conclave.mdb'), maxDbs: 16 });
  } catch (err) {
    lock?.release();
    throw new ConfigError(`Cannot use the data directory ${path}: ${(err as Error).message}`, 'data_dir');
  }
  // `flushed` covers the last commit of this thread's writes, and so every earlier one.
  const acknowledged =
    durability === 'flushed'
      ? async <T>(write: Promise<T>): Promise<T> => {
          const result = await write;
          await root.flushed;
          return result;
        }
      : <T>(write: Promise<T>): Promise<T> => write;
  const closeEnvironment = root.close.bind(root);
  const close = async (): Promise<void> => {
    await closeEnvironment();
    lock?.release();
  };
  return Object.assign(root, { acknowledged, close });
}

/**
 * `mkdir -p`, one level at a time: Node's recursive mkdirSync spins forever
 * where mkdir says ENOENT under a parent that exists (/proc, /sys).
 */
function makeDirectories(path: string): void {
  const parent = dirname(path);
  if (existsSync(path) || parent === path) return;
  makeDirectories(parent);
  try {
    mkdirSync(path);
  } catch (err) {
    // Another thread of this server opening the same folder made it first.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}
