import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

/** A child process of the bench, listening on 127.0.0.1. */
export interface BenchProcess {
  name: string;
  child: ChildProcess;
  port: number;
  url: string;
  /** Everything the process wrote to stdout and stderr so far (from its log file). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts `node <args>` with stdout and stderr going to a log file, not a pipe: the bench
 * process is also the load generator, and reading a chatty child's output would cost it CPU
 * in the middle of a measurement. Resolves once the log matches `ready` (whose first group is
 * the port), rejects if the process exits first or `timeoutMs` passes.
 */
export async function startProcess(opts: {
  name: string;
  args: string[];
  env: Record<string, string>;
  logDir: string;
  /** A log line whose first group is the port, or a port whose `/healthz` answers 200 when ready. */
  ready: RegExp | { port: number };
  timeoutMs?: number;
  /** Where to run (default: this checkout). */
  cwd?: string;
}): Promise<BenchProcess> {
  const logPath = join(opts.logDir, `${opts.name.replace(/[^a-z0-9-]+/gi, '-')}.log`);
  const fd = openSync(logPath, 'w');
  const child = spawn(process.execPath, opts.args, {
    cwd: opts.cwd ?? REPO_ROOT,
    // Exactly these settings plus PATH/HOME, so nothing from the shell changes what is measured.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...opts.env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let exit: string | undefined;
  const exited = new Promise<void>((res) =>
    child.on('exit', (code, signal) => {
      exit = String(code ?? signal);
      res();
    }),
  );
  const log = (): string => readFileSync(logPath, 'utf8');
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const ready = opts.ready;
  for (;;) {
    const port =
      ready instanceof RegExp ? Number(ready.exec(log())?.[1] ?? NaN) : await healthy(ready.port);
    if (!Number.isNaN(port)) {
      return {
        name: opts.name,
        child,
        port,
        url: `http://127.0.0.1:${port}`,
        log,
        async stop() {
          if (exit === undefined) child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(killer);
        },
      };
    }
    if (exit !== undefined)
      throw new Error(`${opts.name} exited (${exit}) before it was ready; its log:\n${log()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${opts.name} was not ready in time; its log:\n${log()}`);
    }
    await sleep(50);
  }
}

/** The port, once GET /healthz on it answers 200; NaN before that. */
async function healthy(port: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    await res.arrayBuffer();
    return res.ok ? port : NaN;
  } catch {
    return NaN;
  }
}

/** A port free on 127.0.0.1 right now (the OS picks it; the child binds it a moment later). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((res) => server.close(() => res()));
  return port;
}

/** Starts a TypeScript file of bench/gateway/ that prints `LISTENING <port>`. */
export function startScript(
  name: string,
  file: string,
  args: string[],
  logDir: string,
  nodeArgs: string[] = [],
): Promise<BenchProcess> {
  return startProcess({
    name,
    args: [...nodeArgs, '--import', 'tsx', join(REPO_ROOT, 'bench/gateway', file), ...args],
    env: {},
    logDir,
    ready: /^LISTENING (\d+)$/m,
  });
}
