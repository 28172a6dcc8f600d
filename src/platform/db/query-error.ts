/**
 * A failed statement as it may be logged: the SQL text and the server's error, never the values.
 *
 * pg's DatabaseError and PGlite's error are logged with every enumerable field, and PGlite's
 * carries the bound `params` (API-key HMACs, a provider's wrapped key, IV and tag). PostgreSQL
 * itself quotes values back in `detail` ("Key (x)=(value) already exists", "Failing row contains
 * (...)"), and data exceptions quote the offending input in the message. So driver errors are
 * replaced by this one, which keeps what a reader needs to find the fault (SQLSTATE, constraint,
 * table, column, statement, the parameters' types and lengths) and nothing that holds a value.
 */
export class DatabaseQueryFailed extends Error {
  readonly code: string;
  readonly severity: string | undefined;
  readonly constraint: string | undefined;
  readonly table: string | undefined;
  readonly column: string | undefined;
  readonly schema: string | undefined;
  readonly routine: string | undefined;
  readonly detail: string | undefined;
  readonly statement: string | undefined;
  /** Each parameter's type and, for strings and byte arrays, its length: `string(64)`, `null`. */
  readonly paramShapes: string[] | undefined;

  constructor(
    source: Record<string, unknown>,
    statement: string | undefined,
    params: readonly unknown[] | undefined,
  ) {
    const code = str(source.code) ?? 'XX000';
    super(redactMessage(code, str(source.message) ?? 'database error'));
    this.name = 'DatabaseQueryFailed';
    this.code = code;
    this.severity = str(source.severity);
    this.constraint = str(source.constraint);
    this.table = str(source.table);
    this.column = str(source.column);
    this.schema = str(source.schema);
    this.routine = str(source.routine);
    const detail = str(source.detail);
    this.detail = detail === undefined ? undefined : redactDetail(detail);
    this.statement = statement?.slice(0, 2000);
    this.paramShapes = params?.map(shapeOf);
    // The original stack's frames, under this error's (redacted) message line.
    const frames =
      str(source.stack)
        ?.split('\n')
        .filter((l) => /^\s+at /.test(l)) ?? [];
    this.stack = [`${this.name}: ${this.message}`, ...frames].join('\n');
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function shapeOf(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return `string(${v.length})`;
  if (v instanceof Uint8Array) return `bytes(${v.byteLength})`;
  if (Array.isArray(v)) return `array(${v.length})`;
  return typeof v;
}

/** Whether err came from the database server (pg or PGlite): it carries a SQLSTATE and a severity. */
export function isServerError(err: unknown): err is Record<string, unknown> {
  if (typeof err !== 'object' || err === null) return false;
  const { code, severity } = err as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string';
}

/** Replaces a server error by its value-free form; anything else passes through unchanged. */
export function safeDbError(
  err: unknown,
  statement?: string,
  params?: readonly unknown[],
): unknown {
  if (err instanceof DatabaseQueryFailed || !isServerError(err)) return err;
  return new DatabaseQueryFailed(err, statement, params);
}

// "Key (tenant_id, name)=(…, secret) already exists." keeps the column list, drops the values;
// "Failing row contains (…)." and any other parenthesised value list after '=' likewise.
function redactDetail(detail: string): string {
  return detail
    .replace(/\)=\(.*\)/g, ')=([redacted])')
    .replace(/(Failing row contains )\(.*\)/g, '$1([redacted])')
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '[redacted]');
}

// Data exceptions (class 22) quote the input that failed to parse, e.g.
// `invalid input syntax for type uuid: "<value>"`: keep the sentence, drop the quoted value.
function redactMessage(code: string, message: string): string {
  if (!code.startsWith('22')) return message;
  return message.replace(/"(?:[^"\\]|\\.)*"/g, '"[redacted]"');
}
