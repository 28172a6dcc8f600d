import type { Config } from '../config.js';
import type { ModelCalls } from '../gateway/index.js';
import type { Database } from '../platform/db/database.js';
import type { AnyRoute } from '../platform/http/route.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import type { Metrics } from '../platform/telemetry/metrics.js';
import { sqlMetrics } from './metrics.js';
import { SqlQueryService } from './query-service.js';
import { sqlRoutes } from './routes.js';
import { SchemaLinker, type SchemaEmbedders } from './schema-link.js';
import { SourceService } from './sources-service.js';

export { SqlQueryService } from './query-service.js';
export { SourceService } from './sources-service.js';
export { SqlRefused, REFUSAL_CODES, type RefusalCode } from './refusal.js';
export type { SchemaEmbedder, SchemaEmbedders } from './schema-link.js';
export type { AskInput, AskResult, QueryInput, QueryResult } from './schemas.js';
export { AskBody as SqlAskBody, QueryBody } from './schemas.js';

export interface SqlDeps {
  db: Database;
  config: Pick<
    Config,
    | 'OUTBOUND_ALLOW_PRIVATE_ADDRESSES'
    | 'SQL_STATEMENT_TIMEOUT_MS'
    | 'SQL_MAX_ROWS'
    | 'SQL_MAX_RESULT_BYTES'
  >;
  metrics: Pick<Metrics, 'registry'>;
  /** The gateway's in-process entry: /v1/sql/ask's model calls are routed and metered to the tenant. */
  calls: ModelCalls;
  keyring: Keyring | undefined;
  /**
   * The tenant's embedder for schema linking in /v1/sql/ask (the knowledge hub's: its embedding
   * alias through the gateway, metered to the tenant); without it linking is by keyword only.
   */
  embedders?: SchemaEmbedders | undefined;
}

/**
 * Text-to-SQL. `service` is the API the copilot's `sql.query` / `sql.ask` tools call:
 * `service.execute(principal, { source, sql, limit }, meta)` and `service.ask(principal, { source, question }, meta)`.
 */
export interface Sql {
  routes: AnyRoute[];
  service: SqlQueryService;
  sources: SourceService;
  close(): Promise<void>;
}

export function createSql(deps: SqlDeps): Sql {
  const { config } = deps;
  const sources = new SourceService(deps.db, deps.keyring, {
    allowPrivate: config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES,
    statementTimeoutMs: config.SQL_STATEMENT_TIMEOUT_MS,
  });
  const service = new SqlQueryService(
    deps.db,
    sources,
    deps.calls,
    sqlMetrics(deps.metrics.registry),
    {
      statementTimeoutMs: config.SQL_STATEMENT_TIMEOUT_MS,
      maxRows: config.SQL_MAX_ROWS,
      maxResultBytes: config.SQL_MAX_RESULT_BYTES,
    },
    new SchemaLinker(deps.embedders),
  );
  return {
    routes: sqlRoutes(sources, service),
    service,
    sources,
    close: () => sources.close(),
  };
}
