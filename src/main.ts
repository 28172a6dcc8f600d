import { Command } from 'commander';
import { ConfigError, loadConfig, type Config } from './config.js';
import { buildApp } from './app.js';
import { migrationStatus } from './platform/db/migrator.js';
import { migrateServer, openEmbedded } from './platform/db/open.js';
import { createRuntime } from './runtime.js';
import { verifyChain } from './audit/service.js';
import { TenantService } from './identity/tenants-service.js';
import { ApiKeyService } from './identity/keys-service.js';

function config(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`rampart: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function serve(): Promise<void> {
  const cfg = config();
  const rt = await createRuntime(cfg);
  const { logger, db } = rt;
  if (cfg.DATABASE_URL) {
    const status = await db.withOperator((tx) => migrationStatus(tx));
    if (status.pending.length)
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
  const { app } = await buildApp({
    config: cfg,
    db,
    logger,
    serverSecret: rt.serverSecret,
    redis: rt.redis,
    tracing: rt.tracing !== undefined,
  });
  const address = await app.listen({ host: cfg.HOST, port: cfg.PORT });
  logger.info(
    {
      address,
      database: cfg.DATABASE_URL ? 'postgres' : `embedded (${cfg.RAMPART_DATA_DIR})`,
      redis: Boolean(cfg.REDIS_URL),
    },
    'rampart serving',
  );
  if (!cfg.RAMPART_ROOT_TOKEN) {
    process.stdout.write(
      `\nRampart is listening on ${address}.\nThe admin API (/admin/v1) is disabled: set RAMPART_ROOT_TOKEN (at least 24 characters) or RAMPART_ROOT_TOKEN_FILE to create tenants, e.g.\n` +
        `  RAMPART_ROOT_TOKEN=$(openssl rand -hex 32) npm start\n\n`,
    );
  }

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
    // In-flight requests get SHUTDOWN_TIMEOUT_MS; after that open connections are cut.
    const force = setTimeout(() => {
      logger.warn('shutdown timeout reached: closing open connections');
      app.server.closeAllConnections();
    }, cfg.SHUTDOWN_TIMEOUT_MS);
    force.unref();
    await app.close();
    clearTimeout(force);
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
  // Background job types (ingestion, embeddings, retention) register here as features land;
  // with the embedded database, `serve` runs them in-process instead.
  rt.logger.info(
    { database: cfg.DATABASE_URL ? 'postgres' : 'embedded' },
    'rampart worker started',
  );
  const stop = async (): Promise<void> => {
    await rt.close();
    rt.logger.flush();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

async function runMigrate(): Promise<void> {
  const cfg = config();
  const applied = cfg.DATABASE_URL ? await migrateServer(cfg) : await migrateEmbedded(cfg);
  process.stdout.write(
    applied.length
      ? `applied: ${applied.map((m) => `${m.version}_${m.name}`).join(', ')}\n`
      : 'database is up to date\n',
  );
}

async function migrateEmbedded(cfg: Config) {
  const { db, applied } = await openEmbedded(`${cfg.RAMPART_DATA_DIR}/pgdata`);
  await db.close();
  return applied;
}

async function auditVerify(opts: { tenant: string }): Promise<void> {
  const cfg = config();
  const rt = await createRuntime(cfg);
  try {
    const tenants = new TenantService(rt.db, new ApiKeyService(rt.db, rt.serverSecret));
    const tenant = await tenants.findBySlug(opts.tenant);
    if (!tenant) {
      process.stderr.write(`rampart: no tenant with slug '${opts.tenant}'\n`);
      process.exitCode = 2;
      return;
    }
    const verdict = await verifyChain(rt.db, tenant.id);
    if (verdict.ok) {
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
  .action(serve);
program.command('worker').description('run background jobs').action(worker);
program.command('migrate').description('apply pending database migrations').action(runMigrate);
const audit = program.command('audit').description('audit log tools');
audit
  .command('verify')
  .description("recompute a tenant's audit hash chain; exit 1 on a break")
  .requiredOption('--tenant <slug>', 'tenant slug')
  .action(auditVerify);

await program.parseAsync(process.argv);
