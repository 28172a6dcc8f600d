import type { Config } from '../config.js';
import { buildApp } from '../app.js';
import {
  cachingClient,
  evalCompare,
  evalReplay,
  evalRun,
  EXIT,
  httpClient,
  injectClient,
  type EvalReplayOptions,
  type EvalRunOptions,
  type RampartClient,
} from '../evals/index.js';
import { OutboundHttp } from '../platform/net/outbound-http.js';
import { createLogger } from '../platform/telemetry/logger.js';
import { createRuntime } from '../runtime.js';

const io = {
  out: (t: string) => void process.stdout.write(t),
  err: (t: string) => void process.stderr.write(t),
};

export interface EvalRunCli extends EvalRunOptions {
  targetUrl?: string;
  key?: string;
  cache?: string;
}

/**
 * Runs `fn` with a client for Rampart: over HTTP against a running server (--target-url), or
 * in-process on an app built over the configured database; either way as the given key.
 */
async function withClient(
  opts: { targetUrl?: string | undefined; key?: string | undefined; cache?: string | undefined },
  config: () => Config,
  what: string,
  fn: (client: RampartClient) => Promise<number>,
): Promise<void> {
  if (!opts.key) {
    io.err(`rampart: ${what} needs --key <api key> (the principal it runs as)\n`);
    process.exitCode = EXIT.usage;
    return;
  }
  const wrap = (c: RampartClient): RampartClient => (opts.cache ? cachingClient(c, opts.cache) : c);
  if (opts.targetUrl) {
    // The operator names the target: private addresses (a local server, CI) are allowed.
    const http = new OutboundHttp({ allowPrivate: true, maxBodyBytes: 64 * 1024 * 1024 });
    try {
      process.exitCode = await fn(wrap(httpClient(http, opts.targetUrl, opts.key)));
    } finally {
      await http.close();
    }
    return;
  }
  const cfg = config();
  const logger = createLogger({ level: 'warn', secretValues: cfg.secretValues });
  const rt = await createRuntime(cfg, { logger });
  try {
    const { app } = await buildApp({
      config: cfg,
      db: rt.db,
      logger,
      serverSecret: rt.serverSecret,
      masterKey: rt.masterKey,
      redis: rt.redis,
    });
    await app.ready();
    try {
      const client = injectClient((o) => app.inject(o), { authorization: `Bearer ${opts.key}` });
      process.exitCode = await fn(wrap(client));
    } finally {
      await app.close();
    }
  } finally {
    await rt.close();
  }
}

/** `rampart eval run`: runs the golden set and sets the exit code of the gate. */
export function evalRunCli(opts: EvalRunCli, config: () => Config): Promise<void> {
  return withClient(opts, config, 'eval run', (client) => evalRun(client, opts, io));
}

export interface EvalReplayCli extends EvalReplayOptions {
  targetUrl?: string;
  key?: string;
}

/** `rampart eval replay`: replays a recorded run (exact, parametric or stress). */
export function evalReplayCli(opts: EvalReplayCli, config: () => Config): Promise<void> {
  return withClient(opts, config, 'eval replay', (client) => evalReplay(client, opts, io));
}

/** `rampart eval compare a.json b.json`. */
export async function evalCompareCli(a: string, b: string): Promise<void> {
  process.exitCode = await evalCompare(a, b, io);
}
