import cluster from 'node:cluster';
import { Command } from 'commander';
import { ConfigError, loadConfig, type Config } from './config.js';
import { buildApp } from './app.js';
import { migrationStatus } from './platform/db/migrator.js';
import { migrateServer, openEmbedded } from './platform/db/open.js';
import { createRuntime } from './runtime.js';
import { createWorker } from './knowledge/worker.js';
import { createCopilot } from './copilot/index.js';
import { settingsProviders } from './config-knowledge.js';
import { createGateway } from './gateway/index.js';
import { keyringFromSettings } from './platform/secrets/envelope.js';
import { serveWorkerMetrics } from './platform/queue/worker-metrics.js';
import { WorkerMetricsChannel } from './platform/telemetry/cluster-metrics.js';
import { Metrics } from './platform/telemetry/metrics.js';
import { SERVING_MESSAGE, superviseWorkers } from './serve-cluster.js';
import { verifyChain, type ExpectedHead } from './audit/service.js';
import { TenantService } from './identity/tenants-service.js';
import { ApiKeyService } from './identity/keys-service.js';

function config(): Config {
  return loadConfig();
}

/**
 * Wraps a command: a configuration problem found at any point of start-up (parsing, or a
 * setting another one requires) is one clear line on stderr and exit code 2, not a stack trace.
 */
function command<A extends unknown[]>(
  action: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await action(...args);
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`rampart: ${err.message}\n`);
        process.exit(2);
      }
      // An unreachable database or Redis is an operational fact, not a bug: one line, exit 1.
      const code = (err as { code?: unknown }).code;
      if (err instanceof Error && typeof code === 'string' && !code.startsWith('ERR_')) {
        process.stderr.write(`rampart: cannot start: ${err.message} (${code})\n`);
        process.exit(1);
      }
      throw err;
    }
  };
}

async function serve(): Promise<void> {
  const cfg = config();
  // RAMPART_WORKERS > 1: this process becomes the cluster primary and each forked worker comes
  // back here (cluster.isWorker) to run the ordinary serve path below.
  if (cfg.RAMPART_WORKERS > 1 && cluster.isPrimary) return superviseWorkers(cfg);
  const worker = cluster.isWorker ? cluster.worker : undefined;
  // One-time notices come from the first worker only, not once per worker or replacement.
  const announce = worker === undefined || worker.id === 1;
  const rt = await createRuntime(cfg);
  const db = rt.db;
  const logger = worker ? rt.logger.child({ worker: worker.id, pid: process.pid }) : rt.logger;
  const metrics = new Metrics({ poolStats: () => db.poolStats() });
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
  const { app, gateway, copilot } = await buildApp({
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
  // The embedded database has one connection and no separate worker process: serve runs the jobs.
  const embeddedWorker = cfg.DATABASE_URL
    ? undefined
    : createWorker(db, cfg, logger, gateway.calls, metrics.registry);
  for (const [kind, handler] of Object.entries(copilot.jobs))
    embeddedWorker?.register(kind, handler);
  await embeddedWorker?.start();
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
    await embeddedWorker?.stop(cfg.SHUTDOWN_TIMEOUT_MS);
    clusterMetrics?.close();
    await rt.close();
    logger.info('stopped');
    logger.flush();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

async function worker(): Promise<void> {
  const cfg = config();
  const rt = await createRuntime(cfg);
  // Background job types register in createWorker as features land; with the embedded
  // database, `serve` runs them in-process instead.
  const metrics = new Metrics({ poolStats: () => rt.db.poolStats() });
  // The jobs' model calls (ingestion embeddings) go through a gateway of their own, metered to
  // each job's tenant like the API's calls.
  const gateway = createGateway({
    db: rt.db,
    logger: rt.logger,
    config: cfg,
    redis: rt.redis,
    limitsConfig: cfg,
    metrics,
    inProcessProviders: settingsProviders(cfg.knowledgeModels),
    keyring: keyringFromSettings(rt.masterKey, cfg.RAMPART_MASTER_KEY_PREVIOUS),
  });
  const queue = createWorker(rt.db, cfg, rt.logger, gateway.calls, metrics.registry);
  // Copilot runs: the loop resumes each run from its event log (its routes are serve's).
  const copilot = createCopilot({
    db: rt.db,
    config: cfg,
    logger: rt.logger,
    calls: gateway.calls,
    registry: metrics.registry,
    keyring: keyringFromSettings(rt.masterKey, cfg.RAMPART_MASTER_KEY_PREVIOUS),
    redis: rt.redis,
  });
  for (const [kind, handler] of Object.entries(copilot.jobs)) queue.register(kind, handler);
  await queue.start();
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
    await queue.stop(cfg.SHUTDOWN_TIMEOUT_MS);
    await copilot.close();
    await gateway.close(); // writes the usage rows still buffered
    await metricsServer?.close();
    await rt.close();
    rt.logger.flush();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

async function runMigrate(): Promise<void> {
  const cfg = config();
  const server = cfg.DATABASE_ADMIN_URL ?? cfg.DATABASE_URL;
  const applied = server ? await migrateServer(cfg) : await migrateEmbedded(cfg);
  process.stdout.write(
    applied.length
      ? `applied: ${applied.map((m) => `${m.version}_${m.name}`).join(', ')}\n`
      : 'database is up to date\n',
  );
}

async function migrateEmbedded(cfg: Config) {
  const { db, applied } = await openEmbedded(`${cfg.RAMPART_DATA_DIR}/pgdata`, {
    lockDir: cfg.RAMPART_DATA_DIR,
  });
  await db.close();
  return applied;
}

/** `--expect-head`: a chain head hash (64 hex digits), optionally as `seq:hash`. */
function parseExpectedHead(text: string): ExpectedHead | undefined {
  const m = /^(?:(\d{1,18}):)?([0-9a-f]{64})$/i.exec(text.trim());
  if (!m?.[2]) return undefined;
  return { seq: m[1] === undefined ? undefined : Number(m[1]), hash: m[2].toLowerCase() };
}

async function auditVerify(opts: { tenant?: string; expectHead?: string }): Promise<void> {
  // Usage errors exit 2, like an unknown tenant, as documented (commander's own exit is 1).
  if (!opts.tenant) {
    process.stderr.write('rampart: audit verify needs --tenant <slug>\n');
    process.exitCode = 2;
    return;
  }
  const expect = opts.expectHead === undefined ? undefined : parseExpectedHead(opts.expectHead);
  if (opts.expectHead !== undefined && !expect) {
    process.stderr.write(
      `rampart: --expect-head must be a chain head hash (64 hex digits) or seq:hash, not '${opts.expectHead}'\n`,
    );
    process.exitCode = 2;
    return;
  }
  const cfg = config();
  const rt = await createRuntime(cfg);
  try {
    // The explicit operator path into one tenant's data: whoever can run this CLI with the
    // database settings is the operator. The slug is resolved through the narrow SECURITY
    // DEFINER rampart_find_tenant (identifiers only), then verifyChain reads that one tenant's
    // chain inside withTenant, so RLS still confines the read to it. Verifying appends nothing
    // to the chain, so on PostgreSQL it can run against a read replica or a suspect copy.
    const tenants = new TenantService(rt.db, new ApiKeyService(rt.db, rt.serverSecret));
    const tenant = await tenants.findBySlug(opts.tenant);
    if (!tenant) {
      process.stderr.write(`rampart: no tenant with slug '${opts.tenant}'\n`);
      process.exitCode = 2;
      return;
    }
    const verdict = await verifyChain(rt.db, tenant.id, expect);
    if ('missingHead' in verdict) {
      const want = verdict.missingHead;
      process.stdout.write(
        `audit chain of ${tenant.slug}: TRUNCATED: intact, but head ${want.seq === undefined ? '' : `${want.seq}:`}${want.hash} is not in it; the chain ends after ${verdict.events} events at ${verdict.head} (newer events were removed)\n`,
      );
      process.exitCode = 1;
    } else if (verdict.ok) {
      process.stdout.write(
        `audit chain of ${tenant.slug}: OK, ${verdict.events} events, head ${verdict.head}\n`,
      );
    } else {
      const b = verdict.brokenAt;
      process.stdout.write(
        `audit chain of ${tenant.slug}: BROKEN at event seq ${b.seq} (id ${b.id}): ${b.reason}; ${verdict.events} events before it verified\n`,
      );
      process.exitCode = 1;
    }
  } catch (err) {
    // Exit 1 means "the chain is broken"; a verification that could not run must not look like one.
    process.stderr.write(`rampart: audit verify could not run: ${(err as Error).message}\n`);
    process.exitCode = 3;
  } finally {
    await rt.close();
  }
}

const program = new Command('rampart')
  .description('Rampart: multi-tenant AI platform')
  .showHelpAfterError();
program
  .command('serve')
  .description('run the HTTP API (migrates the embedded database)')
  .action(command(serve));
program.command('worker').description('run background jobs').action(command(worker));
program
  .command('migrate')
  .description('apply pending database migrations')
  .action(command(runMigrate));
const audit = program.command('audit').description('audit log tools');
audit
  .command('verify')
  .description(
    "recompute a tenant's audit hash chain; exit 0 intact, 1 broken or truncated, 2 unknown tenant or usage error, 3 could not verify",
  )
  .option('--tenant <slug>', 'tenant slug (required)')
  .option(
    '--expect-head <[seq:]hash>',
    'a chain head published earlier (the "audit chain head" log line); fails if the chain no longer contains it',
  )
  .action(command(auditVerify));

await program.parseAsync(process.argv);
