/** What the query service needs from a source's database, whatever its kind. */
import { AppError, ServiceUnavailable } from '../platform/http/errors.js';

export interface SessionLimits {
  /** Rows returned at most; one more is fetched to report truncation. */
  rowLimit: number;
  /** Result size cap in bytes (JSON of the rows); past it the rows are cut and `truncated` set. */
  maxBytes: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  idleTimeoutMs: number;
}

export interface ResultColumn {
  name: string;
  type: string;
}

export interface ResultSet {
  columns: ResultColumn[];
  rows: unknown[][];
  truncated: boolean;
}

export interface CatalogueColumn {
  name: string;
  type: string;
  nullable: boolean;
  comment?: string | undefined;
  /** For low-cardinality text columns, a few distinct values. */
  values?: string[] | undefined;
}

export interface CatalogueTable {
  schema: string;
  name: string;
  comment?: string | undefined;
  rowEstimate: number;
  columns: CatalogueColumn[];
  primaryKey: string[];
  foreignKeys: { columns: string[]; references: { table: string; columns: string[] } }[];
}

export interface Catalogue {
  tables: CatalogueTable[];
}

/** A connection to one source: layer 2 (session) lives in run(), layer 3 in excessPrivileges(). */
export interface Connector {
  readonly dialect: 'postgres' | 'mysql';
  /** Runs one validated statement read-only under the limits; the session is reset after. */
  run(sql: string, limits: SessionLimits, schemas: readonly string[]): Promise<ResultSet>;
  /** Each privilege beyond reading the login holds (empty when it is read-only). */
  excessPrivileges(): Promise<string[]>;
  introspect(
    schemas: readonly string[],
    tables: ReadonlySet<string> | undefined,
  ): Promise<Catalogue>;
  close(): Promise<void>;
}

/** The login holds more than SELECT: 422 listing each excess privilege. */
export class NotReadOnlyLogin extends AppError {
  constructor(readonly privileges: string[]) {
    super(
      422,
      'sql_login_not_read_only',
      `The source's login may change data or the database: ${privileges.slice(0, 20).join('; ')}${privileges.length > 20 ? ` (and ${privileges.length - 20} more)` : ''}. Connect with a login that has only SELECT (see docs/sql.md).`,
      { privileges },
    );
  }
}

export class SqlTimeout extends AppError {
  constructor(ms: number) {
    super(504, 'sql_timeout', `The query ran past its ${ms} ms limit and was cancelled.`);
  }
}

/** A statement the database itself refused or failed (layers 2 and 3, or a plain SQL error). */
export class SqlExecutionFailed extends AppError {
  constructor(
    message: string,
    readonly dbCode: string | undefined,
  ) {
    super(422, 'sql_execution_error', `The database refused the query: ${message}`, {
      dbCode: dbCode ?? null,
    });
  }
}

export class SourceUnavailable extends ServiceUnavailable {
  constructor(name: string, reason: string) {
    super(
      `The database of source '${name}' cannot be reached: ${reason}`,
      'sql_source_unavailable',
    );
  }
}

/** Cuts rows to the byte cap; returns the rows kept and whether any were dropped. */
export function capRows(
  rows: unknown[][],
  limits: Pick<SessionLimits, 'rowLimit' | 'maxBytes'>,
): { rows: unknown[][]; truncated: boolean } {
  let truncated = rows.length > limits.rowLimit;
  const kept = truncated ? rows.slice(0, limits.rowLimit) : rows;
  let bytes = 0;
  for (let i = 0; i < kept.length; i++) {
    bytes += JSON.stringify(kept[i], (_k, v: unknown) =>
      typeof v === 'bigint' ? String(v) : v,
    ).length;
    if (bytes > limits.maxBytes) {
      truncated = true;
      return { rows: kept.slice(0, i), truncated };
    }
  }
  return { rows: kept, truncated };
}
