import { trace, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { Driver, DriverKind, PoolStats, Queryable, TenantContext } from './types.js';

/** A transaction whose tenant context has been set from a verified principal. */
export interface TenantTx extends Queryable {
  readonly tenantId: string;
}

/** The operator's explicit cross-tenant path: no tenant context until enterTenant(). */
export interface OperatorTx extends Queryable {
  /** Sets the tenant context for the rest of this transaction (e.g. right after creating the tenant). */
  enterTenant(ctx: TenantContext): Promise<TenantTx>;
}

const SET_CONTEXT = `SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true),
  set_config('app.groups', $3, true), set_config('app.key_id', $4, true), set_config('app.permissions', $5, true)`;

function traced(q: Queryable, tracer: Tracer, system: string): Queryable {
  return {
    query(text, params) {
      return tracer.startActiveSpan(
        'db.query',
        {
          kind: SpanKind.CLIENT,
          attributes: { 'db.system': system, 'db.statement': text.slice(0, 2000) },
        },
        async (span) => {
          try {
            return await q.query(text, params);
          } catch (err) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
            throw err;
          } finally {
            span.end();
          }
        },
      );
    },
  } as Queryable;
}

async function setContext(q: Queryable, ctx: TenantContext): Promise<void> {
  // set_config(..., true): the values die with the transaction, so a pooled connection never
  // carries a tenant into the next request.
  await q.query(SET_CONTEXT, [
    ctx.tenantId,
    ctx.userId ?? '',
    JSON.stringify(ctx.groups),
    ctx.keyId ?? '',
    JSON.stringify([...(ctx.permissions ?? [])]),
  ]);
}

/** The database as feature code sees it: every path to tenant data goes through withTenant. */
export class Database {
  readonly kind: DriverKind;
  #tracer: Tracer | undefined;

  constructor(
    readonly driver: Driver,
    opts: { tracing?: boolean } = {},
  ) {
    this.kind = driver.kind;
    this.#tracer = opts.tracing ? trace.getTracer('rampart.db') : undefined;
  }

  #tx<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const tracer = this.#tracer;
    const system = this.kind === 'pglite' ? 'postgresql.pglite' : 'postgresql';
    return this.driver.transaction((tx) => fn(tracer ? traced(tx, tracer, system) : tx));
  }

  /** Runs fn in a transaction with app.tenant_id / user_id / key_id / groups / permissions set from the verified context. */
  withTenant<T>(ctx: TenantContext, fn: (tx: TenantTx) => Promise<T>): Promise<T> {
    return this.#tx(async (tx) => {
      await setContext(tx, ctx);
      return fn(Object.assign(tx, { tenantId: ctx.tenantId }));
    });
  }

  /**
   * A transaction with no tenant context, for the pre-authentication lookups and operator
   * actions that go through SECURITY DEFINER functions. RLS shows it no tenant rows.
   */
  withOperator<T>(fn: (tx: OperatorTx) => Promise<T>): Promise<T> {
    return this.#tx((tx) =>
      fn(
        Object.assign(tx, {
          async enterTenant(ctx: TenantContext): Promise<TenantTx> {
            await setContext(tx, ctx);
            return Object.assign(tx, { tenantId: ctx.tenantId });
          },
        }),
      ),
    );
  }

  /** Liveness of the connection: one round trip. */
  async ping(): Promise<void> {
    await this.driver.transaction((tx) => tx.query('SELECT 1'));
  }

  listen(
    channel: string,
    onMessage: (payload: string) => void,
    onReset: () => void,
  ): Promise<() => Promise<void>> {
    return this.driver.listen(channel, onMessage, onReset);
  }

  poolStats(): PoolStats {
    return this.driver.poolStats();
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}
