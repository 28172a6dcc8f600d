import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Database } from './platform/db/database.js';
import { openDatabase, type OpenedDatabase } from './platform/db/open.js';
import { createRedis } from './platform/kv/redis.js';
import { generateMasterKey } from './platform/secrets/envelope.js';
import { resolveLocalSecret } from './platform/secrets/local-secrets.js';
import { createLogger } from './platform/telemetry/logger.js';
import { startTracing, type Tracing } from './platform/telemetry/tracing.js';

/** Everything a process role needs, built once from the config in main.ts. */
export interface Runtime {
  config: Config;
  logger: Logger;
  db: Database;
  opened: OpenedDatabase;
  redis: Redis | undefined;
  serverSecret: string;
  /** Envelope-encryption master key; undefined with DATABASE_URL and no RAMPART_MASTER_KEY. */
  masterKey: string | undefined;
  tracing: Tracing | undefined;
  close(): Promise<void>;
}

export async function createRuntime(
  config: Config,
  opts: { logger?: Logger } = {},
): Promise<Runtime> {
  const embedded = !config.DATABASE_URL;
  const serverSecret = resolveLocalSecret({
    name: 'RAMPART_SECRET_KEY',
    configured: config.RAMPART_SECRET_KEY,
    embedded,
    dataDir: config.RAMPART_DATA_DIR,
    file: 'secret.key',
  });
  // Embedded mode keeps a generated master key beside the data; a server deployment must
  // configure one (shared by replicas), or storing provider credentials answers 503.
  const masterKey =
    config.RAMPART_MASTER_KEY || embedded
      ? resolveLocalSecret({
          name: 'RAMPART_MASTER_KEY',
          configured: config.RAMPART_MASTER_KEY,
          embedded,
          dataDir: config.RAMPART_DATA_DIR,
          file: 'master.key',
          generate: generateMasterKey,
        })
      : undefined;
  const logger =
    opts.logger ??
    createLogger({
      level: config.LOG_LEVEL,
      secretValues: [...config.secretValues, serverSecret, ...(masterKey ? [masterKey] : [])],
    });
  const tracing = config.OTEL_EXPORTER_OTLP_ENDPOINT
    ? startTracing({
        endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
        serviceName: config.OTEL_SERVICE_NAME,
      })
    : undefined;
  const opened = await openDatabase(config, {
    tracing: tracing !== undefined,
    onPoolError: (err) => logger.warn({ err }, 'idle database connection failed'),
  });
  const redis = config.REDIS_URL
    ? createRedis(config.REDIS_URL, (err) =>
        logger.warn({ err: { message: err.message } }, 'redis error'),
      )
    : undefined;
  return {
    config,
    logger,
    db: opened.db,
    opened,
    redis,
    serverSecret,
    masterKey,
    tracing,
    async close() {
      await opened.db
        .close()
        .catch((err: unknown) => logger.error({ err }, 'closing the database failed'));
      if (redis) await redis.quit().catch(() => redis.disconnect());
      await tracing?.shutdown().catch(() => undefined);
    },
  };
}
