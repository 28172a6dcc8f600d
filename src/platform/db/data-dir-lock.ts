import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../config.js';

/** The lock file's name inside RAMPART_DATA_DIR. */
export const DATA_DIR_LOCK_FILE = 'rampart.lock';

/**
 * Takes the embedded data directory for this process, or refuses with a ConfigError naming the
 * process that holds it. PGlite has no lock of its own: two processes on one directory both
 * start, and one of them loses acknowledged writes. The lock is a file created with O_EXCL
 * holding the holder's pid; a file whose pid is no longer alive (a crash, a kill -9) is taken
 * over. Returns the release function (idempotent; also run if the process exits without it).
 */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, DATA_DIR_LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const holder = lockHolder(path);
      if (holder !== undefined && isAlive(holder))
        throw new ConfigError([
          `RAMPART_DATA_DIR: ${dataDir} is in use by another rampart process (pid ${holder}); stop it first (two processes on one embedded database lose writes)`,
        ]);
      // The holder is gone: remove its file and try once more (a racing process may win).
      unlinkSync(path);
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      process.off('exit', release);
      // Only our own file: never remove a lock another process took over.
      if (lockHolder(path) === process.pid) unlinkSync(path);
    };
    process.on('exit', release);
    return release;
  }
}

function lockHolder(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
