import { trace, SpanStatusCode, type Span } from '@opentelemetry/api';
import { appendAuditEvent, type AuditAction, type Outcome } from '../audit/service.js';
import type { ModelCalls } from '../gateway/index.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { recordRequest } from '../governance/requests-service.js';
import { AppError, InvalidInput } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import { SqlExecutionFailed, SqlTimeout, type Catalogue, type SessionLimits } from './connector.js';
import type { SqlMetrics } from './metrics.js';
import { PolicyRewrite, type TableGovernance } from './policy-rewrite.js';
import { askPrompt, extractSql, SQL_PROMPT_TEMPLATE, SQL_PROMPT_VERSION } from './prompt.js';
import { SchemaLinker } from './schema-link.js';
import { SqlRefused } from './refusal.js';
import type { AskInput, AskResult, Policies, QueryInput, QueryResult } from './schemas.js';
import {
  annotationsOf,
  policiesOf,
  type OpenSource,
  type SourceService,
} from './sources-service.js';
import type { SourceSecretRow } from './sources-store.js';
import { validateMysql } from './validate-mysql.js';
import {
  loadPostgresParser,
  validatePostgres,
  type TableRules,
  type Validated,
} from './validate-pg.js';

const tracer = trace.getTracer('rampart.sql');

async function span<T>(
  name: string,
  attrs: Record<string, string>,
  fn: (s: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes: attrs }, async (s) => {
    try {
      return await fn(s);
    } catch (err) {
      s.setStatus({
        code: SpanStatusCode.ERROR,
        message: err instanceof Error ? err.message : String(err),
      });
      throw err;
    } finally {
      s.end();
    }
  });
}

export interface QueryServiceOptions {
  statementTimeoutMs: number;
  maxRows: number;
  maxResultBytes: number;
}

function rulesOf(row: SourceSecretRow): TableRules {
  return { schemas: row.schemas, tables: row.tables ? new Set(row.tables) : undefined };
}

function outcomeOf(err: unknown): { outcome: string; code: string } {
  if (err instanceof SqlRefused) return { outcome: 'refused', code: err.code };
  if (err instanceof SqlTimeout) return { outcome: 'timeout', code: err.code };
  if (err instanceof AppError && err.status === 503)
    return { outcome: 'unavailable', code: err.code };
  if (err instanceof AppError) return { outcome: 'failed', code: err.code };
  return { outcome: 'failed', code: 'internal' };
}

/**
 * Queries and questions over a tenant's sources: layer 1 here (validate, policy rewrite), layers
 * 2 and 3 in the connectors. This is the API the copilot's `sql.query` / `sql.ask` tools call.
 */
export class SqlQueryService {
  constructor(
    private readonly db: Database,
    private readonly sources: SourceService,
    private readonly calls: ModelCalls,
    private readonly metrics: SqlMetrics,
    private readonly opts: QueryServiceOptions,
    /** Schema linking for large schemas (keyword only when not given). */
    private readonly linker: SchemaLinker = new SchemaLinker(undefined),
  ) {}

  #limits(limit: number | undefined): SessionLimits {
    const t = this.opts.statementTimeoutMs;
    return {
      rowLimit: Math.min(limit ?? this.opts.maxRows, this.opts.maxRows),
      maxBytes: this.opts.maxResultBytes,
      statementTimeoutMs: t,
      lockTimeoutMs: Math.max(100, Math.floor(t / 2)),
      idleTimeoutMs: t * 2,
    };
  }

  /** The caller's row filters and masks on this source, as tree rewrites. */
  async #policies(principal: Principal, src: OpenSource): Promise<PolicyRewrite | undefined> {
    const p = policiesOf(src.row);
    if (p.rowFilters.length === 0 && p.masks.length === 0) return undefined;
    const groups = new Set(principal.groups);
    const rules = rulesOf(src.row);
    const byTable = new Map<string, { filters: string[]; masked: Set<string> }>();
    const entry = (table: string): { filters: string[]; masked: Set<string> } => {
      const key = table.includes('.') ? table : `${rules.schemas[0] ?? 'public'}.${table}`;
      let e = byTable.get(key);
      if (!e) byTable.set(key, (e = { filters: [], masked: new Set() }));
      return e;
    };
    for (const f of p.rowFilters) if (groups.has(f.group)) entry(f.table).filters.push(f.where);
    for (const m of p.masks)
      if (!m.exceptGroups.some((g) => groups.has(g))) entry(m.table).masked.add(m.column);
    const needColumns = [...byTable.values()].some((e) => e.masked.size > 0);
    const catalogue = needColumns
      ? (await this.sources.catalogue(principal, src)).catalogue
      : undefined;
    const tables = new Map<string, TableGovernance>();
    for (const [key, e] of byTable) {
      const t = catalogue?.tables.find((x) => `${x.schema}.${x.name}` === key);
      tables.set(key, {
        filters: e.filters,
        masked: e.masked,
        columns: t?.columns.map((c) => ({ name: c.name, type: c.type })) ?? [],
      });
    }
    return new PolicyRewrite(tables);
  }

  async #validate(principal: Principal, src: OpenSource, sql: string): Promise<Validated> {
    return span('sql.validate', { 'rampart.sql.source': src.row.id }, async () => {
      const policies = await this.#policies(principal, src);
      if (src.connector.dialect === 'mysql') return validateMysql(sql, rulesOf(src.row), policies);
      await loadPostgresParser();
      return validatePostgres(sql, rulesOf(src.row), policies);
    });
  }

  /** Validates and runs one statement on a source (POST /v1/sql/query); every outcome is audited. */
  async execute(
    principal: Principal,
    input: QueryInput,
    meta: RequestMeta,
    question?: string,
  ): Promise<QueryResult> {
    const src = await this.sources.open(principal, input.source);
    return this.#run(principal, src, input.sql, input.limit, meta, question);
  }

  async #run(
    principal: Principal,
    src: OpenSource,
    sql: string,
    limit: number | undefined,
    meta: RequestMeta,
    question: string | undefined,
    /** Written in the audit event's transaction (the request record of an answer). */
    onSuccess?: (tx: TenantTx, result: QueryResult) => Promise<void>,
  ): Promise<QueryResult> {
    const started = performance.now();
    let executed: string | undefined;
    try {
      const checked = await this.#validate(principal, src, sql);
      executed = checked.sql;
      const limits = this.#limits(limit);
      const result = await span('sql.execute', { 'rampart.sql.source': src.row.id }, () =>
        src.connector.run(checked.sql, limits, src.row.schemas),
      );
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      this.metrics.queries.inc({ outcome: 'ok', code: '' });
      this.metrics.duration.observe({ outcome: 'ok' }, durationMs / 1000);
      this.metrics.rows.observe(result.rows.length);
      const out = { ...result, rowCount: result.rows.length, sql: checked.sql, durationMs };
      await this.#audit(
        principal,
        meta,
        'sql.queried',
        'success',
        src.row,
        {
          question: question ?? null,
          sql: checked.sql,
          rowCount: result.rows.length,
          truncated: result.truncated,
          durationMs,
        },
        onSuccess && ((tx) => onSuccess(tx, out)),
      );
      return out;
    } catch (err) {
      const { outcome, code } = outcomeOf(err);
      this.metrics.queries.inc({ outcome, code });
      this.metrics.duration.observe({ outcome }, (performance.now() - started) / 1000);
      await this.#audit(
        principal,
        meta,
        outcome === 'refused' ? 'sql.refused' : 'sql.queried',
        outcome === 'refused' ? 'denied' : 'failure',
        src.row,
        {
          question: question ?? null,
          sql: executed ?? sql.slice(0, 4000),
          code,
          offending: err instanceof SqlRefused ? err.offending : null,
          durationMs: Math.round(performance.now() - started),
        },
      ).catch(() => undefined);
      throw err;
    }
  }

  /** Question → SQL through the gateway, validated, executed, with one repair round on a database error. */
  async ask(principal: Principal, input: AskInput, meta: RequestMeta): Promise<AskResult> {
    const started = performance.now();
    const src = await this.sources.open(principal, input.source);
    const { catalogue } = await this.sources.catalogue(principal, src);
    const annotations = annotationsOf(src.row);
    const linked: Catalogue = await span('sql.link', { 'rampart.sql.source': src.row.id }, () =>
      this.linker.link(principal, meta.requestId, catalogue, input.question, annotations),
    );
    const timings: Record<string, number> = { linkMs: performance.now() - started };
    const messages = askPrompt(
      src.connector.dialect,
      linked,
      annotations,
      input.question,
      src.row.description,
    );
    const usage = { promptTokens: 0, completionTokens: 0 };
    const served = { provider: null as string | null, model: null as string | null };
    const spent = { costUsd: 0, redactions: 0, generationMs: 0 };
    const generate = async (): Promise<{ sql: string; explanation: string }> =>
      span('sql.generate', { 'rampart.sql.source': src.row.id }, async () => {
        const t0 = performance.now();
        const out = await this.calls.chat(
          principal,
          { model: { alias: src.row.model_alias }, messages, temperature: 0 },
          { requestId: meta.requestId },
        );
        spent.generationMs += performance.now() - t0;
        usage.promptTokens += out.usage?.promptTokens ?? 0;
        usage.completionTokens += out.usage?.completionTokens ?? 0;
        spent.costUsd += out.costUsd;
        spent.redactions += out.redactions;
        served.provider = out.provider;
        served.model = out.model;
        const parsed = extractSql(out.content ?? '');
        if (!parsed.sql)
          throw new InvalidInput('The model answered without a SQL query.', {
            answer: (out.content ?? '').slice(0, 500),
          });
        messages.push({ role: 'assistant', content: out.content ?? '' });
        return parsed;
      });
    let attempt = await generate();
    let attempts = 1;
    // The answer's request record (governance: reconstruction), written with its audit event.
    const record =
      (answer: Record<string, unknown>) =>
      (tx: TenantTx): Promise<void> => {
        timings.generationMs = spent.generationMs;
        timings.totalMs = performance.now() - started;
        return recordRequest(tx, {
          requestId: meta.requestId,
          kind: 'sql_ask',
          userId: principal.userId,
          keyId: principal.keyId,
          question: input.question,
          chunks: [],
          promptTemplate: SQL_PROMPT_TEMPLATE,
          promptVersion: SQL_PROMPT_VERSION,
          promptRendered: messages,
          modelAlias: src.row.model_alias,
          provider: served.provider,
          model: served.model,
          answer: { source: src.row.name, explanation: attempt.explanation, attempts, ...answer },
          citations: [],
          promptTokens: usage.promptTokens,
          completionTokens: usage.completionTokens,
          costUsd: spent.costUsd,
          redactions: spent.redactions,
          timings,
        });
      };
    if (input.execute === false) {
      const checked = await this.#validate(principal, src, attempt.sql);
      await this.#audit(
        principal,
        meta,
        'sql.asked',
        'success',
        src.row,
        { question: input.question, sql: checked.sql, executed: false },
        record({ sql: checked.sql, executed: false }),
      );
      return {
        ...attempt,
        sql: checked.sql,
        columns: [],
        rows: [],
        rowCount: 0,
        truncated: false,
        attempts,
        usage,
      };
    }
    for (;;) {
      try {
        const result = await this.#run(
          principal,
          src,
          attempt.sql,
          undefined,
          meta,
          input.question,
          (tx, r) =>
            record({
              sql: r.sql,
              executed: true,
              columns: r.columns,
              rowCount: r.rowCount,
              truncated: r.truncated,
            })(tx),
        );
        return {
          sql: result.sql,
          explanation: attempt.explanation,
          columns: result.columns,
          rows: result.rows,
          rowCount: result.rowCount,
          truncated: result.truncated,
          attempts,
          usage,
        };
      } catch (err) {
        const repairable =
          err instanceof SqlExecutionFailed ||
          (err instanceof SqlRefused && err.code === 'sql_parse_error');
        if (!repairable || attempts >= 2) throw err;
        attempts += 1;
        messages.push({
          role: 'user',
          content: `That query failed: ${err.message}\nReply with a corrected query in a \`\`\`sql block.`,
        });
        attempt = await generate();
      }
    }
  }

  /** Checks a policy set against the source: each filter must pass layer 1 on its table. */
  async checkPolicies(row: SourceSecretRow, p: Policies): Promise<void> {
    await loadPostgresParser();
    for (const f of p.rowFilters) {
      const check = `SELECT 1 FROM ${f.table} WHERE ${f.where}`;
      try {
        if (row.type === 'mysql') validateMysql(check, rulesOf(row));
        else validatePostgres(check, rulesOf(row));
      } catch (err) {
        if (!(err instanceof SqlRefused)) throw err;
        throw new SqlRefused(
          err.refusal,
          `Row filter on ${f.table}: ${err.message}`,
          err.offending,
        );
      }
    }
  }

  async #audit(
    principal: Principal,
    meta: RequestMeta,
    action: AuditAction,
    outcome: Outcome,
    row: SourceSecretRow,
    details: Record<string, unknown>,
    also?: (tx: TenantTx) => Promise<void>,
  ): Promise<void> {
    await this.db.withTenant(principal, async (tx) => {
      await appendAuditEvent(tx, {
        actor: actorOf(principal),
        action,
        target: { type: 'sql_source', id: row.id },
        outcome,
        ip: meta.ip,
        requestId: meta.requestId,
        details: { source: row.name, ...details },
      });
      await also?.(tx);
    });
  }
}
