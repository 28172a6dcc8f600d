import type { QuotaGate } from '../platform/quota.js';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { ModelCalls } from '../gateway/index.js';
import { createKnowledgeTools } from '../knowledge/index.js';
import type { SqlQueryService } from '../sql/index.js';
import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import { OutboundHttp } from '../platform/net/outbound-http.js';
import type { JobHandler } from '../platform/queue/queue.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import { DefinitionService } from './definitions.js';
import { EpisodeReplayer } from './episodes.js';
import { createRunEventBus, type RunEventBus } from './events.js';
import { copilotMetrics, registerCopilotGauges } from './metrics.js';
import { realtimeRoute } from './realtime/route.js';
import type { TenantStanding } from './realtime/connection.js';
import { copilotRoutes } from './routes.js';
import { RUN_JOB } from './run-job.js';
import { RunLoop } from './runner.js';
import { RunService } from './runs-service.js';
import { HttpActions } from './tools/http-action.js';
import { httpActionSource } from './tools/http-source.js';
import { knowledgeToolSource } from './tools/knowledge-tools.js';
import { ToolRegistry, type ToolSource } from './tools/registry.js';
import { sqlToolSource } from './tools/sql-tools.js';

export { RUN_JOB } from './run-job.js';
export type { RunEventBus } from './events.js';
export { builtinSource } from './tools/registry.js';
export type { ResolvedTool, ToolDeclaration, ToolSource } from './tools/registry.js';
export type { RunService } from './runs-service.js';
export type { ReplayOutcome, ReplayMode } from './episodes.js';
export {
  CreateRunBody,
  ReplayView,
  TERMINAL,
  ToolPolicy,
  stricterPolicy,
  type RunView,
} from './schemas.js';

export interface CopilotDeps {
  db: Database;
  /** Plans' quotas (agent runs per month). */
  quotas?: QuotaGate | undefined;
  config: Config;
  logger: Logger;
  /** The gateway's in-process entry: every model call of a run is routed and metered. */
  calls: ModelCalls;
  registry: Registry;
  keyring: Keyring | undefined;
  /** With Redis, run events are announced to every replica (pub/sub). */
  redis?: Redis | undefined;
  /** Text-to-SQL: the `sql.query` and `sql.ask` tools call it as the run's caller. */
  sql: SqlQueryService;
  /** More tool sources (e.g. MCP servers), consulted after the built-in ones. */
  toolSources?: readonly ToolSource[];
  /** Tells when a tenant is disabled (offboarding): its open /v1/realtime sockets are closed. */
  tenantStanding?: TenantStanding | undefined;
}

export interface Copilot {
  routes: AnyRoute[];
  /** The job handlers a worker registers (the run loop). */
  jobs: Record<string, JobHandler>;
  /** Announces new run events (and token deltas) to SSE streams and /v1/realtime sockets. */
  bus: RunEventBus;
  /** Starts and reads runs (the MCP server's run_agent tool). */
  runs: RunService;
  close(): Promise<void>;
}

/** Builds the copilot: its routes and the run loop a worker (or an embedded `serve`) runs. */
export function createCopilot(deps: CopilotDeps): Copilot {
  const { config, db } = deps;
  const bus = createRunEventBus(deps.redis, (err) =>
    deps.logger.warn({ err }, 'copilot event bus error'),
  );
  const metrics = copilotMetrics(deps.registry);
  registerCopilotGauges(deps.registry, db);
  const http = new OutboundHttp({ allowPrivate: config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES });
  const actions = new HttpActions(http, {
    retryBaseMs: config.COPILOT_TOOL_RETRY_BASE_MS,
    breakerThreshold: config.GATEWAY_BREAKER_THRESHOLD,
    breakerCooldownMs: config.GATEWAY_BREAKER_COOLDOWN_MS,
  });
  // Built-in sources first; the tenant's HTTP actions last (their names cannot take a built-in's).
  const registry = new ToolRegistry()
    .register(knowledgeToolSource(createKnowledgeTools({ db, config, calls: deps.calls })))
    .register(sqlToolSource(deps.sql));
  for (const source of deps.toolSources ?? []) registry.register(source);
  registry.register(httpActionSource(actions, deps.keyring));
  const loop = new RunLoop({
    db,
    calls: deps.calls,
    registry,
    bus,
    metrics,
    leaseMs: config.COPILOT_RUN_LEASE_MS,
    modelTimeoutMs: config.COPILOT_MODEL_TIMEOUT_MS,
    logger: deps.logger,
  });
  const episodes = new EpisodeReplayer({
    db,
    calls: deps.calls,
    registry,
    bus,
    leaseMs: config.COPILOT_RUN_LEASE_MS,
    modelTimeoutMs: config.COPILOT_MODEL_TIMEOUT_MS,
  });
  const runs = new RunService(db, bus, metrics, {
    maxConcurrentRunsPerTenant: config.COPILOT_MAX_CONCURRENT_RUNS_PER_TENANT,
    maxJobAttempts: config.COPILOT_RUN_MAX_ATTEMPTS,
    streamPollMs: config.COPILOT_STREAM_POLL_MS,
    quotas: deps.quotas,
    deltaQueueMax: config.COPILOT_REALTIME_QUEUE_MAX,
  });
  const realtime = realtimeRoute({
    runs,
    bus,
    metrics: metrics.realtime,
    options: {
      queueMax: config.COPILOT_REALTIME_QUEUE_MAX,
      bufferBytes: config.COPILOT_REALTIME_BUFFER_BYTES,
      maxSubscriptions: config.COPILOT_REALTIME_MAX_SUBSCRIPTIONS,
    },
    publicOrigin: new URL(config.PUBLIC_URL ?? `http://localhost:${config.PORT}`).origin,
    tenantStanding: deps.tenantStanding,
  });
  return {
    routes: [
      ...copilotRoutes(
        new DefinitionService(db, registry, deps.keyring, config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES),
        runs,
        episodes,
      ),
      realtime,
    ],
    jobs: { [RUN_JOB]: loop.handler() },
    bus,
    runs,
    async close() {
      await bus.close();
      await http.close();
    },
  };
}
