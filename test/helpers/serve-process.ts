import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

/** A `rampart` child process with its output collected. */
export interface RampartProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout contains the pattern (rejects if the process exits first). */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

/** A temporary data directory removed by the returned cleanup. */
export function tempDataDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-proc-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Spawns `node bin/rampart.js <args>` (or another command) with exactly the given environment
 * plus PATH/HOME, so nothing from the developer's shell leaks into the process under test.
 */
export function spawnRampart(
  args: string[],
  env: Record<string, string>,
  opts: { command?: string; detached?: boolean } = {},
): RampartProcess {
  const cmd = opts.command ?? process.execPath;
  const fullArgs = opts.command ? args : ['bin/rampart.js', ...args];
  const child = spawn(cmd, fullArgs, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  let out = '';
  let err = '';
  const waiters: { pattern: RegExp; resolve(m: RegExpExecArray): void }[] = [];
  const settle = () => {
    for (const w of [...waiters]) {
      const m = w.pattern.exec(out);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    settle();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | string>((res) => {
    child.on('exit', (code, signal) => res(code ?? signal ?? -1));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern) {
      const m = pattern.exec(out);
      if (m) return Promise.resolve(m);
      return new Promise((res, rej) => {
        waiters.push({ pattern, resolve: res });
        void exited.then((code) =>
          rej(
            new Error(
              `process exited (${code}) before printing ${pattern}\nstdout:\n${out}\nstderr:\n${err}`,
            ),
          ),
        );
      });
    },
  };
}

/** Starts `rampart serve` on 127.0.0.1 and a free port; resolves once it is listening. */
export async function startServe(
  env: Record<string, string>,
): Promise<RampartProcess & { baseUrl: string; port: number }> {
  const p = spawnRampart(['serve'], { HOST: '127.0.0.1', PORT: '0', ...env });
  const m = await p.waitFor(
    /"address":"(http:\/\/127\.0\.0\.1:(\d+))"[^\n]*"msg":"rampart serving"/,
  );
  return Object.assign(p, { baseUrl: m[1] as string, port: Number(m[2]) });
}
