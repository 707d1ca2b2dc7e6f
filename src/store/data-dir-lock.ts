// One server per data directory. LMDB itself lets several processes share an
// environment, and the account commands (`conclave adduser`, `passwd`,
// `deluser`) rely on that to run beside the server; but two servers on one
// directory would each run the same rooms, and each's writes would undo the
// other's. A server takes `conclave.lock` in the directory, holding its PID,
// created exclusively; a lock whose process is gone (a server killed with
// SIGKILL, a crashed machine) is stale and taken over. A PID reused since by
// an unrelated process looks alive: the error says which file to remove.

import { openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'conclave.lock';

export interface DataDirLock {
  /** Removes the lock file (if it is still this process's). */
  release(): void;
}

/** Takes the lock on `path` (an existing directory), or throws an Error saying who holds it. */
export function lockDataDir(path: string): DataDirLock {
  const file = join(path, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = holderOf(file);
    if ((holder !== undefined && alive(holder)) || attempt > 0) {
      throw new Error(`another Conclave server uses it (PID ${holder ?? 'unknown'}, in ${file}); stop that server, or remove ${file} if no server runs there`);
    }
    // Stale: its process is gone. Taken over once; a second failure means another server just took it.
    unlinkSync(file);
  }
  const release = (): void => {
    process.off('exit', release);
    if (holderOf(file) === process.pid) unlinkSync(file);
  };
  // A server that exits without closing (an uncaught error) leaves no lock behind.
  process.on('exit', release);
  return { release };
}

function holderOf(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this PID exists (EPERM: it does, under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
