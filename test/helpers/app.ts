import { apiKeyPrefix } from '../../src/identity/key-secret.js';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp, type BuiltApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Database } from '../../src/platform/db/database.js';
import { createRedis, type Redis } from '../../src/platform/kv/redis.js';
import { createLogger } from '../../src/platform/telemetry/logger.js';

export const ROOT_TOKEN = 'test-root-token-0123456789abcdef';
export const SERVER_SECRET = 'test-server-secret-0123456789abcdef0123';

/** Captures every log line the app writes, for assertions (and secret-leak checks). */
export class LogCapture extends Writable {
  lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.lines.push(...chunk.toString().split('\n').filter(Boolean));
    cb();
  }
  get text(): string {
    return this.lines.join('\n');
  }
  parsed(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

export interface TestApp extends BuiltApp {
  app: FastifyInstance;
  config: Config;
  logs: LogCapture;
  redis: Redis | undefined;
  /** Creates a tenant through the admin API; returns its id and owner key. */
  createTenant(slug?: string): Promise<{ id: string; slug: string; ownerKey: string }>;
  close(): Promise<void>;
}

let counter = 0;
export function uniqueSlug(prefix = 't'): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Builds a Rampart app on the given database with test secrets and captured logs. */
export async function createTestApp(
  db: Database,
  env: Record<string, string> = {},
  opts: { redisUrl?: string | undefined } = {},
): Promise<TestApp> {
  const config = loadConfig({
    RAMPART_ROOT_TOKEN: ROOT_TOKEN,
    RAMPART_SECRET_KEY: SERVER_SECRET,
    LOG_LEVEL: 'info',
    // The fake upstreams listen on 127.0.0.1; the guard itself is tested with this set to false.
    OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'true',
    ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
    ...env,
  });
  const logs = new LogCapture();
  const logger = createLogger({
    level: config.LOG_LEVEL,
    secretValues: config.secretValues,
    destination: logs,
  });
  const redis = config.REDIS_URL ? createRedis(config.REDIS_URL) : undefined;
  const built = await buildApp({
    config,
    db,
    logger,
    serverSecret: config.RAMPART_SECRET_KEY as string,
    redis,
  });
  await built.app.ready();
  return {
    ...built,
    config,
    logs,
    redis,
    async createTenant(slug = uniqueSlug()) {
      const res = await built.app.inject({
        method: 'POST',
        url: '/admin/v1/tenants',
        headers: { authorization: `Bearer ${ROOT_TOKEN}` },
        payload: { slug, name: `Tenant ${slug}` },
      });
      if (res.statusCode !== 201)
        throw new Error(`createTenant failed: ${res.statusCode} ${res.body}`);
      const body = res.json() as { tenant: { id: string; slug: string }; apiKey: string };
      return { id: body.tenant.id, slug: body.tenant.slug, ownerKey: body.apiKey };
    },
    async close() {
      await built.app.close();
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export function bearer(key: string): { authorization: string } {
  return { authorization: `Bearer ${key}` };
}

/**
 * Waits until every instance has heard of a new key's prefix. A key is announced to the other
 * instances by a NOTIFY; its creator waits up to 2 s for its own copy, but on a loaded machine
 * another instance can hear it later, and until then refuses the key from memory.
 */
export async function untilKeyKnown(apps: TestApp[], secret: string): Promise<void> {
  const prefix = apiKeyPrefix(secret);
  const deadline = Date.now() + 10_000;
  while (!apps.every((a) => a.auth.prefixes.mayExist(prefix))) {
    if (Date.now() > deadline) throw new Error(`key prefix ${prefix} not announced within 10 s`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
