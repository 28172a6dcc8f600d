/** The minimal query surface shared by the pg and PGlite drivers. */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<R>>;
}

export type DriverKind = 'pglite' | 'postgres';

/** The verified context a tenant transaction runs under (a subset of the Principal). */
export interface TenantContext {
  tenantId: string;
  userId?: string | null;
  /** The API key acting, if any (a document's uploader sees its status by it). */
  keyId?: string | null;
  groups: readonly string[];
  /** The principal's permissions; policies that follow a permission read them (app_has_permission). */
  permissions?: ReadonlySet<string>;
}

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** A connection-level driver: platform/db uses it; feature code never sees it. */
export interface Driver {
  readonly kind: DriverKind;
  /** Runs fn in one transaction, as the application role. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Subscribes to a NOTIFY channel; onReset fires when the subscription had to reconnect (messages may have been missed). */
  listen(
    channel: string,
    onMessage: (payload: string) => void,
    onReset: () => void,
  ): Promise<() => Promise<void>>;
  poolStats(): PoolStats;
  close(): Promise<void>;
}
