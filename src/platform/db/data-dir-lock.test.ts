import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../config.js';
import { DATA_DIR_LOCK_FILE, lockDataDir } from './data-dir-lock.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'rampart-lock-'));
  dirs.push(d);
  return d;
}

describe('lockDataDir', () => {
  it('holds the pid, refuses a second holder naming it, and releases only its own file', () => {
    const d = dir();
    const release = lockDataDir(d);
    const file = join(d, DATA_DIR_LOCK_FILE);
    expect(readFileSync(file, 'utf8')).toBe(`${process.pid}\n`);
    expect(() => lockDataDir(d)).toThrow(ConfigError);
    expect(() => lockDataDir(d)).toThrow(`(pid ${process.pid})`);
    release();
    expect(existsSync(file)).toBe(false);
    release(); // idempotent
    const again = lockDataDir(d);
    // A file that another process wrote meanwhile is not ours to remove.
    writeFileSync(file, '1\n');
    again();
    expect(readFileSync(file, 'utf8')).toBe('1\n');
  });

  it('takes over a lock whose pid is no longer alive', () => {
    const d = dir();
    const gone = spawnSync(process.execPath, ['-e', '']).pid as number;
    writeFileSync(join(d, DATA_DIR_LOCK_FILE), `${gone}\n`);
    const release = lockDataDir(d);
    expect(readFileSync(join(d, DATA_DIR_LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    release();
  });
});
