import type { Config } from '../config.js';
import { buildApp } from '../app.js';
import {
  cachingClient,
  evalCompare,
  evalRun,
  EXIT,
  httpClient,
  injectClient,
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
 * `rampart eval run`: over HTTP against a running Rampart (--target-url), or in-process on an app
 * built over the configured database; either way as the given key. Sets the exit code.
 */
export async function evalRunCli(opts: EvalRunCli, config: () => Config): Promise<void> {
  if (!opts.key) {
    io.err('rampart: eval run needs --key <api key> (the principal the cases run as)\n');
    process.exitCode = EXIT.usage;
    return;
  }
  const wrap = (c: RampartClient): RampartClient => (opts.cache ? cachingClient(c, opts.cache) : c);
  if (opts.targetUrl) {
    // The operator names the target: private addresses (a local server, CI) are allowed.
    const http = new OutboundHttp({ allowPrivate: true, maxBodyBytes: 64 * 1024 * 1024 });
    try {
      process.exitCode = await evalRun(wrap(httpClient(http, opts.targetUrl, opts.key)), opts, io);
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
      process.exitCode = await evalRun(wrap(client), opts, io);
    } finally {
      await app.close();
    }
  } finally {
    await rt.close();
  }
}

/** `rampart eval compare a.json b.json`. */
export async function evalCompareCli(a: string, b: string): Promise<void> {
  process.exitCode = await evalCompare(a, b, io);
}
