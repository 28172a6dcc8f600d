import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Database } from './platform/db/database.js';
import { openDatabase, type OpenedDatabase } from './platform/db/open.js';
import { createRedis } from './platform/kv/redis.js';
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
  const logger =
    opts.logger ??
    createLogger({ level: config.LOG_LEVEL, secretValues: [...config.secretValues, serverSecret] });
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
  const redis = config.REDIS_URL ? createRedis(config.REDIS_URL) : undefined;
  redis?.on('error', (err: Error) => logger.warn({ err: { message: err.message } }, 'redis error'));
  return {
    config,
    logger,
    db: opened.db,
    opened,
    redis,
    serverSecret,
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
