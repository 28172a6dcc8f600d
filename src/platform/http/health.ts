import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Database } from '../db/database.js';
import { migrationStatus } from '../db/migrator.js';

type CheckResult = { ok: true } | { ok: false; error: string };

async function check(
  fn: () => Promise<string | undefined>,
  timeoutMs: number,
): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const problem = await Promise.race([
      fn(),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
      }),
    ]);
    return problem ? { ok: false, error: problem } : { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/** GET /healthz (the process is alive) and GET /readyz (database, migrations and Redis are usable). */
export function registerHealth(
  app: FastifyInstance,
  deps: { db: Database; redis?: Redis | undefined },
): void {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const checks: Record<string, CheckResult> = {};
    checks.database = await check(async () => {
      await deps.db.ping();
      return undefined;
    }, 2000);
    checks.migrations = checks.database.ok
      ? await check(async () => {
          const s = await deps.db.withOperator((tx) => migrationStatus(tx));
          if (s.modified.length) return `applied migrations were edited: ${s.modified.join(', ')}`;
          if (s.pending.length)
            return `pending migrations: ${s.pending.map((m) => `${m.version}_${m.name}`).join(', ')} (run \`rampart migrate\`)`;
          return undefined;
        }, 2000)
      : { ok: false, error: 'database unavailable' };
    if (deps.redis) {
      const redis = deps.redis;
      checks.redis = await check(
        async () => ((await redis.ping()) === 'PONG' ? undefined : 'unexpected PING reply'),
        1000,
      );
    }
    const failing = Object.entries(checks)
      .filter(([, c]) => !c.ok)
      .map(([name]) => name);
    reply.code(failing.length ? 503 : 200);
    return {
      status: failing.length ? 'unavailable' : 'ready',
      failing,
      checks: Object.fromEntries(
        Object.entries(checks).map(([k, c]) => [k, c.ok ? 'ok' : c.error]),
      ),
    };
  });
}
