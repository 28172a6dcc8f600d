/**
 * Layer 1 for PostgreSQL sources: the statement is parsed by PostgreSQL's own grammar
 * (libpg-query, the server's parser compiled to WASM) and the tree is walked, failing closed:
 * one SELECT, no data-modifying CTE, no SELECT INTO or locking clause, functions and cast types
 * from an allow-list, and only the source's allowed tables (or CTE names in scope) in FROM.
 */
import { loadModule, parseSync, type ParseResult } from 'libpg-query';
import { deparseSync } from 'pgsql-deparser';
import { POSTGRES_FUNCTIONS, POSTGRES_TYPES } from './functions.js';
import { SqlRefused } from './refusal.js';
import type { PolicyRewrite } from './policy-rewrite.js';

export interface TableRules {
  /** Schemas unqualified names resolve in (search_path is set to these at execution). */
  schemas: readonly string[];
  /**
   * Tables a query may read, as `schema.table` (exact case). Undefined: any table of `schemas`
   * (system catalogues are never included).
   */
  tables?: ReadonlySet<string> | undefined;
}

export interface Validated {
  /** The statement as it will run: deparsed from the checked (and policy-rewritten) tree. */
  sql: string;
  /** The tables it reads, as `schema.table`. */
  tables: string[];
}

let loaded: Promise<void> | undefined;

/** Loads the WASM parser once; validatePostgres may run after this resolves. */
export function loadPostgresParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Scope {
  names: ReadonlySet<string>;
  parent: Scope | undefined;
}

const WRITES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);
const TABLE_FUNCTIONS = new Set(['RangeFunction', 'RangeTableFunc', 'JsonTable']);

function keyword(nodeType: string): string {
  return nodeType
    .replace(/Stmt$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
}

function inScope(scope: Scope | undefined, name: string): boolean {
  for (let s = scope; s; s = s.parent) if (s.names.has(name)) return true;
  return false;
}

function strings(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((n) => {
    const s = isObj(n) && isObj(n.String) ? n.String.sval : undefined;
    return typeof s === 'string' ? s : '?';
  });
}

/**
 * `{ RangeVar: … }`, `{ JoinExpr: … }`: a node under its type's name. A JoinExpr's larg/rarg are
 * such wrappers and must be walked as nodes (so a joined table gets its policy rewrite); a set
 * operation's larg/rarg are bare SelectStmt bodies.
 */
function isNodeWrapper(v: unknown): boolean {
  if (!isObj(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && /^[A-Z]/.test(keys[0] ?? '');
}

class Walker {
  readonly tables = new Set<string>();
  constructor(
    private readonly rules: TableRules,
    private readonly policies: PolicyRewrite | undefined,
  ) {}

  walk(node: unknown, scope: Scope | undefined): void {
    if (Array.isArray(node)) {
      for (const n of node) this.walk(n, scope);
      return;
    }
    if (!isObj(node)) return;
    // A RangeVar the parser did not wrap (IntoClause.rel and the like): checked all the same.
    if (typeof node.relname === 'string') this.rangeVar(node, scope);
    for (const [key, value] of Object.entries(node)) {
      if (key === 'SelectStmt') {
        this.select(value, scope);
      } else if ((key === 'larg' || key === 'rarg') && !isNodeWrapper(value)) {
        this.select(value, scope);
      } else if (WRITES.has(key)) {
        throw new SqlRefused(
          'sql_not_read_only',
          `Only SELECT is allowed; this query contains ${keyword(key)}.`,
          keyword(key),
        );
      } else if (key.endsWith('Stmt')) {
        throw new SqlRefused(
          'sql_not_read_only',
          `Only SELECT is allowed; this query contains ${keyword(key)}.`,
          keyword(key),
        );
      } else if (TABLE_FUNCTIONS.has(key)) {
        throw new SqlRefused(
          'sql_table_not_allowed',
          'Functions in FROM (table functions) are not allowed; name a table.',
          key === 'RangeFunction' ? this.rangeFunctionName(value) : keyword(key),
        );
      } else if (key === 'RangeTableSample') {
        throw new SqlRefused(
          'sql_function_not_allowed',
          'TABLESAMPLE is not allowed.',
          'TABLESAMPLE',
        );
      } else if (key === 'RangeVar') {
        const table = this.rangeVar(value, scope);
        const replacement = table && this.policies?.replacement(table, value);
        // Rewritten in place: the wrapper now holds a subquery over the table with the
        // caller's row filter and column masks; the subquery itself is not walked again.
        if (replacement) {
          delete node.RangeVar;
          node.RangeSubselect = replacement;
        }
      } else if (key === 'FuncCall') {
        this.func(value);
        if (isObj(value)) {
          const { funcname: _name, ...rest } = value;
          this.walk(rest, scope);
        }
      } else if (key === 'typeName') {
        this.type(value);
      } else if (key === 'A_Expr' && isObj(value)) {
        const op = strings(value.name);
        if (op.length > 1 && op[0] !== 'pg_catalog')
          throw new SqlRefused(
            'sql_function_not_allowed',
            'Only built-in operators are allowed.',
            `OPERATOR(${op.join('.')})`,
          );
        this.walk(value, scope);
      } else if (key === 'ParamRef') {
        throw new SqlRefused('sql_parse_error', 'Parameters ($1 …) are not accepted.', '$n');
      } else {
        this.walk(value, scope);
      }
    }
  }

  select(stmt: unknown, outer: Scope | undefined): void {
    if (!isObj(stmt)) return;
    if (stmt.intoClause)
      throw new SqlRefused('sql_not_read_only', 'SELECT INTO creates a table.', 'INTO');
    if (stmt.lockingClause)
      throw new SqlRefused(
        'sql_not_read_only',
        'FOR UPDATE / FOR SHARE take row locks.',
        'FOR UPDATE/SHARE',
      );
    let scope = outer;
    const withClause = stmt.withClause;
    if (isObj(withClause)) {
      const ctes = (Array.isArray(withClause.ctes) ? withClause.ctes : [])
        .map((c) => (isObj(c) && isObj(c.CommonTableExpr) ? c.CommonTableExpr : undefined))
        .filter((c): c is Obj => c !== undefined);
      const names = ctes.map((c) => String(c.ctename));
      if (withClause.recursive === true) {
        scope = { names: new Set(names), parent: outer };
        for (const c of ctes) this.walk(c.ctequery, scope);
      } else {
        // A non-recursive CTE sees only the ones before it: inside its own body its name is
        // the real table of that name, which must be allowed on its own.
        for (const c of ctes) {
          this.walk(c.ctequery, scope);
          scope = { names: new Set([String(c.ctename)]), parent: scope };
        }
      }
    }
    for (const [key, value] of Object.entries(stmt)) {
      if (key === 'withClause') continue;
      if (key === 'larg' || key === 'rarg') this.select(value, scope);
      else this.walk(value, scope);
    }
  }

  /** Checks a table reference; returns its `schema.table`, or undefined for a CTE name. */
  rangeVar(node: unknown, scope: Scope | undefined): string | undefined {
    if (!isObj(node)) return undefined;
    const name = String(node.relname);
    const schema = typeof node.schemaname === 'string' ? node.schemaname : undefined;
    const shown = schema ? `${schema}.${name}` : name;
    if (typeof node.catalogname === 'string')
      throw new SqlRefused('sql_table_not_allowed', 'Cross-database names are not allowed.', shown);
    if (!schema && inScope(scope, name)) return undefined;
    const qualified = this.resolve(schema, name);
    if (!qualified)
      throw new SqlRefused(
        'sql_table_not_allowed',
        `Table ${shown} is not among the tables this source allows.`,
        shown,
      );
    this.tables.add(qualified);
    return qualified;
  }

  /** The allowed `schema.table` a reference names, or undefined. */
  resolve(schema: string | undefined, name: string): string | undefined {
    const { schemas, tables } = this.rules;
    if (schema === undefined && name.startsWith('pg_')) return undefined; // pg_catalog comes first
    const candidates = schema ? [schema] : schemas;
    for (const s of candidates) {
      if (!schemas.includes(s)) continue;
      const q = `${s}.${name}`;
      if (!tables || tables.has(q)) return q;
    }
    return undefined;
  }

  func(node: unknown): void {
    if (!isObj(node)) return;
    const parts = strings(node.funcname);
    const name = parts.length === 2 && parts[0] === 'pg_catalog' ? parts[1] : parts.join('.');
    if (name === undefined || parts.length > 2 || !POSTGRES_FUNCTIONS.has(name))
      throw new SqlRefused(
        'sql_function_not_allowed',
        `Function ${parts.join('.')} is not on the allow-list of pure SQL functions.`,
        parts.join('.'),
      );
  }

  type(node: unknown): void {
    if (!isObj(node)) return;
    const parts = strings(node.names);
    const name = parts.length === 2 && parts[0] === 'pg_catalog' ? parts[1] : parts.join('.');
    if (name === undefined || parts.length > 2 || !POSTGRES_TYPES.has(name))
      throw new SqlRefused(
        'sql_function_not_allowed',
        `Casts to ${parts.join('.')} are not allowed (built-in scalar types only).`,
        `::${parts.join('.')}`,
      );
  }

  rangeFunctionName(node: unknown): string {
    const found: string[] = [];
    const visit = (n: unknown): void => {
      if (Array.isArray(n)) n.forEach(visit);
      else if (isObj(n)) {
        if (isObj(n.FuncCall)) found.push(strings(n.FuncCall.funcname).join('.'));
        Object.values(n).forEach(visit);
      }
    };
    visit(node);
    return found[0] ?? 'ROWS FROM';
  }
}

function parseError(err: unknown, sql: string): SqlRefused {
  const message = err instanceof Error ? err.message : String(err);
  const details = isObj(err) && isObj(err.sqlDetails) ? err.sqlDetails : undefined;
  const at = typeof details?.cursorPosition === 'number' ? details.cursorPosition : undefined;
  const near = at !== undefined ? sql.slice(Math.max(0, at), at + 40) : sql.slice(0, 40);
  return new SqlRefused('sql_parse_error', `The query does not parse: ${message}.`, near);
}

/**
 * Checks one statement against layer 1 and returns it as it will run; throws SqlRefused (422).
 * `policies`, when given, rewrites filtered and masked tables into subqueries first (policy-rewrite.ts).
 */
export function validatePostgres(
  sql: string,
  rules: TableRules,
  policies?: PolicyRewrite,
): Validated {
  let tree: ParseResult;
  try {
    tree = parseSync(sql);
  } catch (err) {
    throw parseError(err, sql);
  }
  const stmts = tree.stmts ?? [];
  if (stmts.length === 0)
    throw new SqlRefused('sql_parse_error', 'The query is empty.', sql.slice(0, 40));
  if (stmts.length > 1)
    throw new SqlRefused(
      'sql_multiple_statements',
      `Exactly one statement is allowed; this has ${stmts.length}.`,
      sql.slice(0, 80),
    );
  const first: unknown = stmts[0]?.stmt;
  const stmt = isObj(first) ? first : {};
  const [kind] = Object.keys(stmt);
  if (kind !== 'SelectStmt')
    throw new SqlRefused(
      'sql_not_read_only',
      `Only SELECT is allowed; this is ${keyword(kind ?? 'an empty statement')}.`,
      keyword(kind ?? ''),
    );
  const walker = new Walker(rules, policies);
  walker.walk(stmt, undefined);
  const text = deparseSync(tree, { pretty: false });
  return { sql: text, tables: [...walker.tables].sort() };
}
