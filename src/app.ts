import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { settingsProviders } from './config-knowledge.js';
import { createAudit, type AuditHeadPublisher } from './audit/index.js';
import { createCopilot, type Copilot } from './copilot/index.js';
import { createEvals, type Evals } from './evals/index.js';
import { createGateway, type Gateway } from './gateway/index.js';
import {
  createIdentity,
  type ApiKeyService,
  type AuthService,
  type Identity,
  type TenantService,
} from './identity/index.js';
import {
  createEmbedders,
  createKnowledge,
  documentGroupRemoval,
  registerUploads,
  type DocumentService,
} from './knowledge/index.js';
import { createSql } from './sql/index.js';
import { createPlansAndInvoices, type PlansAndInvoices } from './analytics/plans-service.js';
import { NO_QUOTAS, type QuotaGate } from './platform/quota.js';
import { createReconstruction } from './governance/reconstruction-service.js';
import { createWebhooks, type Webhooks } from './webhooks/index.js';
import { createUsageAnalytics, type UsageAnalytics } from './analytics/rollups-service.js';
import { createGovernance, type Governance } from './governance/index.js';
import { createSubjectRights, type SubjectRights } from './governance/subject-rights-service.js';
import { createMcpClient, mcpResource, registerMcp } from './mcp/index.js';
import { keyringFromSettings } from './platform/secrets/envelope.js';
import { registerQueueMetrics } from './platform/queue/metrics.js';
import type { Database } from './platform/db/database.js';
import { Forbidden, ServiceUnavailable, Unauthorized } from './platform/http/errors.js';
import { METRICS_REFUSAL_MESSAGE, metricsRefusal } from './platform/http/metrics-access.js';
import { registerConsole } from './platform/http/console.js';
import { registerHealth } from './platform/http/health.js';
import { installRequestTelemetry } from './platform/http/observability.js';
import { lazyRequestLogger } from './platform/telemetry/logger.js';
import { installErrorHandling, sendError } from './platform/http/problem.js';
import { installJsonBodyParser } from './platform/http/json-body.js';
import { registerRoutes } from './platform/http/route.js';
import { openapiTransform } from './platform/http/openapi.js';
import { newRequestId } from './platform/http/request-id.js';
import { Metrics } from './platform/telemetry/metrics.js';

export interface AppDeps {
  config: Config;
  db: Database;
  logger: Logger;
  serverSecret: string;
  /** Master key for stored credentials (base64, 32 bytes); defaults to RAMPART_MASTER_KEY. */
  masterKey?: string | undefined;
  redis?: Redis | undefined;
  tracing?: boolean;
  metrics?: Metrics;
  /** The /metrics body; defaults to this process's registry (a cluster worker asks its primary). */
  scrapeMetrics?: () => Promise<string>;
}

export interface BuiltApp {
  app: FastifyInstance;
  auth: AuthService;
  /** Publishes signed audit chain heads in the log. */
  auditHeads: AuditHeadPublisher;
  metrics: Metrics;
  services: { tenants: TenantService; keys: ApiKeyService; documents: DocumentService };
  /** Rampart access tokens (mint/verify for an audience) and their signing keys. */
  tokens: Pick<Identity, 'tokens' | 'signingKeys'>;
  gateway: Gateway;
  /** Its job handlers run in the worker (in `serve` itself with the embedded database). */
  copilot: Copilot;
  /** Its delivery job runs in the worker too. */
  webhooks: Webhooks;
  /** Plans, quotas and invoices (issue #31). */
  billing: PlansAndInvoices;
  /** The KPI routes; its rollup job runs in the worker too. */
  analytics: UsageAnalytics;
  /** The sampled background judge's job runs in the worker too. */
  evals: Evals;
  /** Retention sweeps and tenant purges: jobs and scheduler run in the worker. */
  governance: Governance;
  /** Data subject exports and erasures; their jobs run in the worker. */
  subjects: SubjectRights;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** Builds the HTTP application from its dependencies; starts nothing that outlives app.close(). */
export async function buildApp(deps: AppDeps): Promise<BuiltApp> {
  const { config, db } = deps;
  const metrics =
    deps.metrics ?? new Metrics({ poolStats: () => db.poolStats(), redis: deps.redis });
  const app = Fastify({
    // Library boundary: widening pino's Logger to Fastify's base type keeps the instance's logger
    // type parameter at FastifyBaseLogger, which the route registration is typed against.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One line per request comes from observability.ts, with tenant and trace ids.
    logController: new LogController({ disableRequestLogging: true }),
    // Library boundary: Fastify types the factory against its own logger generic, not pino's.
    // eslint-disable-next-line no-restricted-syntax
    childLoggerFactory: lazyRequestLogger as never,
    bodyLimit: config.HTTP_BODY_LIMIT,
    trustProxy: config.TRUST_PROXY,
    forceCloseConnections: 'idle',
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : newRequestId();
    },
    ajv: { customOptions: { coerceTypes: false } },
    // Errors raised before routing (a path with bad percent-encoding) get problem+json too.
    frameworkErrors: sendError,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandling(app);
  installJsonBodyParser(app);
  installRequestTelemetry(app, { metrics, tracing: deps.tracing ?? false });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Rampart API',
        version: '0.1.0',
        description: 'Multi-tenant AI platform API.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'A Rampart API key (rmp_…) or, on /admin/v1, the operator token.',
          },
        },
      },
    },
    transform: openapiTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // The features in the order they start (and, by their onClose hooks, stop). A key change
  // evicts the tenant's gateway config, but the gateway is built after identity and audit
  // (its listener and metrics come after theirs), so that eviction is bound once it exists.
  const gatewayConfig = { evict: (_tenantId: string): void => {} };
  // Plans' quotas are built on the gateway's limiter, after identity (which reserves seats):
  // bound below like the eviction above, before any request can arrive.
  let planQuotas: QuotaGate = NO_QUOTAS;
  const quotas: QuotaGate = {
    reserve: (principal, meters, amounts) => planQuotas.reserve(principal, meters, amounts),
    release: (principal, amounts) => planQuotas.release(principal, amounts),
  };
  const keyring = keyringFromSettings(
    deps.masterKey ?? config.RAMPART_MASTER_KEY,
    config.RAMPART_MASTER_KEY_PREVIOUS,
  );
  const identity = await createIdentity({
    keyring,
    db,
    logger: deps.logger,
    serverSecret: deps.serverSecret,
    config,
    metrics,
    redis: deps.redis,
    onGatewayLimitsChanged: (tenantId) => gatewayConfig.evict(tenantId),
    groupRemovals: { documents: documentGroupRemoval },
    // POST /auth/token may mint tokens for /mcp (its `resource`), which /mcp alone accepts.
    tokenAudiences: [mcpResource(config)],
    // Rampart's OAuth authorization server issues tokens for /mcp alone (decision 026).
    oauthResource: mcpResource(config),
    quotas,
  });
  app.addHook('onClose', async () => identity.close());
  const audit = await createAudit({
    db,
    logger: deps.logger,
    serverSecret: deps.serverSecret,
    config,
  });
  app.addHook('onClose', async () => audit.close());
  const gateway = createGateway({
    db,
    logger: deps.logger,
    config,
    redis: deps.redis,
    limitsConfig: config,
    metrics,
    inProcessProviders: settingsProviders(config.knowledgeModels),
    keyring,
  });
  gatewayConfig.evict = (tenantId) => gateway.tenantConfig.evict(tenantId);
  const billing = createPlansAndInvoices({
    db,
    logger: deps.logger,
    holds: gateway.limits.limiter,
  });
  planQuotas = billing.quotas;
  gateway.limits.useQuotas(billing.quotas);
  app.addHook('onClose', async () => gateway.close());

  registerHealth(app, { db, redis: deps.redis });
  const metricsToken = config.METRICS_TOKEN;
  const scrapeMetrics = deps.scrapeMetrics;
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    const refusal = metricsRefusal(metricsToken, request.raw);
    if (refusal === 'metrics_token_required')
      throw new Unauthorized(METRICS_REFUSAL_MESSAGE[refusal], refusal);
    if (refusal) throw new Forbidden(METRICS_REFUSAL_MESSAGE[refusal], refusal);
    let body: string;
    if (scrapeMetrics) {
      try {
        body = await scrapeMetrics();
      } catch (err) {
        request.log.warn({ err }, 'cluster metrics unavailable');
        throw new ServiceUnavailable(
          `The worker processes' metrics could not be gathered: ${(err as Error).message}`,
          'metrics_unavailable',
        );
      }
    } else body = await metrics.registry.metrics();
    reply.type(metrics.registry.contentType);
    return body;
  });

  await registerUploads(app, config.DOCUMENT_MAX_BYTES);
  // Clients send small subscribe messages only; the sockets are closed when the app closes.
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  registerQueueMetrics(metrics.registry, db);
  // Evals run cases through the app itself (inject), as the caller, like any client would.
  const evals = createEvals({
    db,
    config,
    registry: metrics.registry,
    inject: (opts) => app.inject(opts),
    calls: gateway.calls,
    logger: deps.logger,
  });
  // Every model call of the knowledge hub goes through the gateway, metered to the tenant.
  const knowledge = createKnowledge({
    db,
    quotas,
    config,
    metrics,
    calls: gateway.calls,
    onAnswer: (principal, facts) => evals.recordAnswer(principal, facts),
  });
  // Text-to-SQL: the model writes SQL through the gateway too, under the caller's principal.
  const sql = createSql({
    db,
    config,
    metrics,
    calls: gateway.calls,
    keyring,
    // Schema linking embeds with the tenant's knowledge embedder, through the gateway.
    embedders: createEmbedders({ db, config, calls: gateway.calls }),
  });
  app.addHook('onClose', async () => sql.close());
  // External MCP servers' tools (mcp.<server>.<tool>) join the copilot's registry.
  const mcpClient = createMcpClient({ db, config, keyring });
  app.addHook('onClose', async () => mcpClient.close());
  const copilot = createCopilot({
    db,
    quotas,
    config,
    logger: deps.logger,
    calls: gateway.calls,
    registry: metrics.registry,
    keyring,
    redis: deps.redis,
    sql: sql.service,
    toolSources: [mcpClient.toolSource],
    tenantStanding: identity.auth.disabledTenants,
  });
  app.addHook('onClose', async () => copilot.close());
  const webhooks = createWebhooks({ db, config, keyring, logger: deps.logger });
  app.addHook('onClose', async () => webhooks.close());
  const analytics = createUsageAnalytics({ db });
  // Retention, legal holds and offboarding; a disable reaches this process's authenticator at once.
  const governance = createGovernance({
    db,
    config,
    serverSecret: deps.serverSecret,
    redis: deps.redis,
    registry: metrics.registry,
    logger: deps.logger,
    standing: identity.auth.disabledTenants,
  });
  const subjects = createSubjectRights({
    db,
    config,
    serverSecret: deps.serverSecret,
    logger: deps.logger,
  });
  // /mcp serves the same services as the REST routes, as the caller.
  const mcpRoutes = await registerMcp(app, {
    db,
    config,
    logger: deps.logger,
    auth: identity.auth,
    accessTokens: identity.accessTokens,
    authorizationServer: identity.authorizationServer,
    keyring,
    connections: mcpClient.connections,
    users: mcpClient.users,
    services: {
      documents: knowledge.documents,
      search: knowledge.search,
      answers: knowledge.answers,
      sqlQueries: sql.service,
      sqlSources: sql.sources,
      runs: copilot.runs,
      calls: gateway.calls,
    },
  });
  await identity.registerOAuth(app);
  // Governance: request records (reconstruction) and the tenant's outbound data policy.
  const reconstruction = createReconstruction({
    db,
    onPolicyChanged: (tenantId) => gateway.tenantConfig.evict(tenantId),
  });
  registerRoutes(app, identity.auth, [
    ...identity.routes,
    ...audit.routes,
    ...gateway.routes,
    ...knowledge.routes,
    ...copilot.routes,
    ...sql.routes,
    ...evals.routes,
    ...webhooks.routes,
    ...billing.routes,
    ...analytics.routes,
    ...governance.routes,
    ...subjects.routes,
    ...reconstruction.routes,
    ...mcpRoutes,
  ]);
  // Last: the console's SPA fallback (a wildcard) answers only what no route above claims.
  registerConsole(app);
  return {
    app,
    auth: identity.auth,
    auditHeads: audit.heads,
    metrics,
    services: { tenants: identity.tenants, keys: identity.keys, documents: knowledge.documents },
    tokens: { tokens: identity.tokens, signingKeys: identity.signingKeys },
    gateway,
    copilot,
    webhooks,
    billing,
    analytics,
    evals,
    governance,
    subjects,
  };
}
