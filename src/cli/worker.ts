import type { Config } from '../config.js';
import { settingsProviders } from '../config-knowledge.js';
import { createCopilot } from '../copilot/index.js';
import { judgeJobs, judgeSampling } from '../evals/index.js';
import { createGateway } from '../gateway/index.js';
import { createWorker, startBackground } from '../jobs.js';
import { createMcpClient } from '../mcp/index.js';
import { serveWorkerMetrics } from '../platform/queue/worker-metrics.js';
import { keyringFromSettings } from '../platform/secrets/envelope.js';
import { Metrics } from '../platform/telemetry/metrics.js';
import { createRuntime } from '../runtime.js';
import { createWebhooks } from '../webhooks/index.js';
import { createRollupScheduler, createUsageAnalytics } from '../analytics/rollups-service.js';
import { createGovernance } from '../governance/index.js';
import { createSubjectRights } from '../governance/subject-rights-service.js';
import { createSql } from '../sql/index.js';
import { createEmbedders } from '../knowledge/index.js';

/** `rampart worker`: runs background jobs against PostgreSQL. */
export async function worker(cfg: Config): Promise<void> {
  const rt = await createRuntime(cfg);
  // The same background work as `serve` runs in-process on the embedded database
  // (startBackground in src/jobs.ts); here each feature is built without its routes.
  const metrics = new Metrics({ poolStats: () => rt.db.poolStats(), redis: rt.redis });
  // The jobs' model calls (ingestion embeddings) go through a gateway of their own, metered to
  // each job's tenant like the API's calls.
  const keyring = keyringFromSettings(rt.masterKey, cfg.RAMPART_MASTER_KEY_PREVIOUS);
  const gateway = createGateway({
    db: rt.db,
    logger: rt.logger,
    config: cfg,
    redis: rt.redis,
    limitsConfig: cfg,
    metrics,
    inProcessProviders: settingsProviders(cfg.knowledgeModels),
    keyring,
  });
  const queue = createWorker(rt.db, cfg, rt.logger, gateway.calls, metrics.registry);
  // The copilot's sql.query / sql.ask tools run text-to-SQL in the worker, as the run's caller.
  const sql = createSql({
    db: rt.db,
    config: cfg,
    metrics,
    calls: gateway.calls,
    keyring,
    embedders: createEmbedders({ db: rt.db, config: cfg, calls: gateway.calls }),
  });
  // Copilot runs: the loop resumes each run from its event log (its routes are serve's).
  const mcpClient = createMcpClient({ db: rt.db, config: cfg, keyring });
  const copilot = createCopilot({
    db: rt.db,
    config: cfg,
    logger: rt.logger,
    calls: gateway.calls,
    registry: metrics.registry,
    keyring,
    redis: rt.redis,
    sql: sql.service,
    toolSources: [mcpClient.toolSource],
  });
  // Webhook deliveries: each endpoint's outbox, drained in order (its routes are serve's).
  const webhooks = createWebhooks({ db: rt.db, config: cfg, keyring, logger: rt.logger });
  // Usage rollups: the scheduler queues a job per tenant with new ledger rows (its KPI routes
  // are serve's).
  const analytics = createUsageAnalytics({ db: rt.db });
  const rollupScheduler = createRollupScheduler(rt.db, cfg.ANALYTICS_ROLLUP_INTERVAL_MS, rt.logger);
  // The sampled background judge of production answers (evals), through this worker's gateway.
  const judge = judgeJobs({
    db: rt.db,
    calls: gateway.calls,
    sampling: judgeSampling(cfg),
    registry: metrics.registry,
    logger: rt.logger,
  });
  // Retention sweeps and tenant purges, with the cron that opens them (safe on every worker).
  const governance = createGovernance({
    db: rt.db,
    config: cfg,
    serverSecret: rt.serverSecret,
    redis: rt.redis,
    registry: metrics.registry,
    logger: rt.logger,
  });
  // Data subject exports and erasures (their routes are serve's).
  const subjects = createSubjectRights({
    db: rt.db,
    config: cfg,
    serverSecret: rt.serverSecret,
    logger: rt.logger,
  });
  const background = await startBackground(
    queue,
    [copilot, webhooks, analytics, { jobs: judge }, governance, subjects],
    [rollupScheduler, governance.scheduler],
  );
  // The worker's own counters (job failures, chunks indexed) exist only in this process.
  const metricsServer = cfg.WORKER_METRICS_PORT
    ? await serveWorkerMetrics(metrics.registry, {
        host: cfg.HOST,
        port: cfg.WORKER_METRICS_PORT,
        token: cfg.METRICS_TOKEN,
      })
    : undefined;
  rt.logger.info(
    { database: cfg.DATABASE_URL ? 'postgres' : 'embedded', kinds: queue.kinds },
    'rampart worker started',
  );
  const stop = async (): Promise<void> => {
    // Unfinished jobs are not lost: their lease runs out and another worker re-runs them.
    await background.stop(cfg.SHUTDOWN_TIMEOUT_MS);
    await copilot.close();
    await webhooks.close();
    await sql.close();
    await mcpClient.close();
    await gateway.close(); // writes the usage rows still buffered
    await metricsServer?.close();
    await rt.close();
    rt.logger.flush();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}
