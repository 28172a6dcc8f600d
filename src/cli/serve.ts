import cluster from 'node:cluster';
import type { Config } from '../config.js';
import { buildApp } from '../app.js';
import { createWorker, startBackground } from '../jobs.js';
import { createRollupScheduler } from '../analytics/rollups-service.js';
import { migrationStatus } from '../platform/db/migrator.js';
import { WorkerMetricsChannel } from '../platform/telemetry/cluster-metrics.js';
import { Metrics } from '../platform/telemetry/metrics.js';
import { createRuntime } from '../runtime.js';
import { SERVING_MESSAGE, superviseWorkers } from '../serve-cluster.js';

/** `rampart serve`: the HTTP API (and, on the embedded database, the background jobs). */
export async function serve(cfg: Config): Promise<void> {
  // RAMPART_WORKERS > 1: this process becomes the cluster primary and each forked worker comes
  // back here (cluster.isWorker) to run the ordinary serve path below.
  if (cfg.RAMPART_WORKERS > 1 && cluster.isPrimary) return superviseWorkers(cfg);
  const worker = cluster.isWorker ? cluster.worker : undefined;
  // One-time notices come from the first worker only, not once per worker or replacement.
  const announce = worker === undefined || worker.id === 1;
  const rt = await createRuntime(cfg);
  const db = rt.db;
  const logger = worker ? rt.logger.child({ worker: worker.id, pid: process.pid }) : rt.logger;
  const metrics = new Metrics({ poolStats: () => db.poolStats(), redis: rt.redis });
  // In a cluster a scrape reaches one worker; it answers with the whole group's metrics.
  const clusterMetrics = worker ? new WorkerMetricsChannel(metrics.registry, process) : undefined;
  if (cfg.DATABASE_URL) {
    const status = await db.withOperator((tx) => migrationStatus(tx));
    if (status.pending.length && announce)
      logger.warn(
        { pending: status.pending.map((m) => m.version) },
        'database has pending migrations: run `rampart migrate`; /readyz reports 503 until then',
      );
  } else if (rt.opened.applied.length) {
    logger.info(
      { applied: rt.opened.applied.map((m) => `${m.version}_${m.name}`) },
      'embedded database migrated',
    );
  }
  const { app, gateway, copilot, webhooks, analytics, evals, governance, subjects } =
    await buildApp({
      config: cfg,
      db,
      logger,
      serverSecret: rt.serverSecret,
      masterKey: rt.masterKey,
      redis: rt.redis,
      tracing: rt.tracing !== undefined,
      metrics,
      ...(clusterMetrics ? { scrapeMetrics: () => clusterMetrics.scrape() } : {}),
    });
  // The embedded database has one connection and no separate worker process: serve runs the
  // jobs, with the usage rollups' scheduler and the governance cron.
  const background = cfg.DATABASE_URL
    ? undefined
    : await startBackground(
        createWorker(db, cfg, logger, gateway.calls, metrics.registry),
        [copilot, webhooks, analytics, evals, governance, subjects],
        [createRollupScheduler(db, cfg.ANALYTICS_ROLLUP_INTERVAL_MS, logger), governance.scheduler],
      );
  const address = await app.listen({ host: cfg.HOST, port: cfg.PORT });
  logger.info(
    {
      address,
      database: cfg.DATABASE_URL ? 'postgres' : `embedded (${cfg.RAMPART_DATA_DIR})`,
      redis: Boolean(cfg.REDIS_URL),
    },
    'rampart serving',
  );
  if (worker) process.send?.(SERVING_MESSAGE);
  if (!cfg.RAMPART_ROOT_TOKEN && announce) {
    process.stdout.write(
      `\nRampart is listening on ${address}.\nThe admin API (/admin/v1) is disabled: set RAMPART_ROOT_TOKEN (at least 24 characters) or RAMPART_ROOT_TOKEN_FILE to create tenants, e.g.\n` +
        `  RAMPART_ROOT_TOKEN=$(openssl rand -hex 32) npm start\n\n`,
    );
  }

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // In-flight requests get SHUTDOWN_TIMEOUT_MS; after that open connections are cut.
    const force = setTimeout(() => {
      logger.warn('shutdown timeout reached: closing open connections');
      app.server.closeAllConnections();
    }, cfg.SHUTDOWN_TIMEOUT_MS);
    force.unref();
    const closed = app.close();
    // Fastify closes the listening socket a few ticks into close(); announce it only once it
    // is true, so "not accepting" in the log is a fact a supervisor (or a test) can rely on.
    while (app.server.listening) await new Promise((r) => setTimeout(r, 5));
    logger.info('no longer accepting connections; finishing in-flight requests');
    await closed;
    clearTimeout(force);
    await background?.stop(cfg.SHUTDOWN_TIMEOUT_MS);
    clusterMetrics?.close();
    await rt.close();
    logger.info('stopped');
    logger.flush();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
