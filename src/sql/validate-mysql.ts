/**
 * Layer 1 for MySQL/MariaDB sources: node-sql-parser's MariaDB grammar (a real grammar, not
 * regexes; decision 009). The same rules as PostgreSQL's walker, failing closed, and the query
 * that runs is regenerated from the checked tree, so executable `/*! … *\/` comments and other
 * text the grammar skipped never reach the server.
 */
import NodeSqlParser from 'node-sql-parser';
import { MYSQL_FUNCTIONS } from './functions.js';
import type { PolicyRewrite, TableGovernance } from './policy-rewrite.js';
import { SqlRefused } from './refusal.js';
import type { TableRules, Validated } from './validate-pg.js';

const parser = new NodeSqlParser.Parser();
const OPTIONS = { database: 'MariaDB' };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Scope {
  names: ReadonlySet<string>;
  parent: Scope | undefined;
}

function inScope(scope: Scope | undefined, name: string): boolean {
  for (let s = scope; s; s = s.parent) if (s.names.has(name.toLowerCase())) return true;
  return false;
}

function functionName(node: Obj): string {
  const name = node.name;
  if (typeof name === 'string') return name;
  if (isObj(name) && Array.isArray(name.name))
    return name.name.map((p) => (isObj(p) ? String(p.value) : '?')).join('.');
  return '?';
}

const notReadOnly = (what: string): SqlRefused =>
  new SqlRefused('sql_not_read_only', `Only SELECT is allowed; this query contains ${what}.`, what);

const quoted = (s: string): string => `\`${s.replace(/`/g, '``')}\``;

/**
 * The tree of `(SELECT cols FROM db.table WHERE filters)` standing for a governed table: masked
 * columns become NULL under their own name, and any of the caller's filters may hold.
 */
function governedSelect(qualified: string, rule: TableGovernance): unknown {
  const dot = qualified.indexOf('.');
  const projection =
    rule.masked.size === 0
      ? '*'
      : rule.columns
          .map((c) => (rule.masked.has(c.name) ? `NULL AS ${quoted(c.name)}` : quoted(c.name)))
          .join(', ');
  const where =
    rule.filters.length === 0 ? '' : ` WHERE ${rule.filters.map((f) => `(${f})`).join(' OR ')}`;
  const from = `${quoted(qualified.slice(0, dot))}.${quoted(qualified.slice(dot + 1))}`;
  return parser.astify(`SELECT ${projection} FROM ${from}${where}`, OPTIONS);
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
    switch (node.type) {
      case 'select':
        this.select(node, scope);
        return;
      case 'function':
      case 'aggr_func': {
        const name = functionName(node);
        if (!MYSQL_FUNCTIONS.has(name.toLowerCase()))
          throw new SqlRefused(
            'sql_function_not_allowed',
            `Function ${name} is not on the allow-list of pure SQL functions.`,
            name,
          );
        break;
      }
      case 'var':
        throw new SqlRefused(
          'sql_function_not_allowed',
          'Variables are not allowed.',
          `${String(node.prefix ?? '@')}${String(node.name)}`,
        );
      case 'assign':
        throw notReadOnly('an assignment');
      case 'insert':
      case 'replace':
      case 'update':
      case 'delete':
      case 'create':
      case 'drop':
      case 'alter':
      case 'set':
      case 'lock':
      case 'unlock':
      case 'call':
      case 'use':
      case 'truncate':
      case 'grant':
      case 'load_data':
        throw notReadOnly(String(node.type).toUpperCase());
      default:
        break;
    }
    for (const value of Object.values(node)) this.walk(value, scope);
  }

  select(stmt: Obj, outer: Scope | undefined): void {
    if (stmt.type !== 'select') throw notReadOnly(String(stmt.type).toUpperCase());
    const into = stmt.into;
    if (isObj(into) && (into.position !== null || into.expr !== undefined))
      throw notReadOnly('SELECT … INTO');
    if (stmt.locking_read) throw notReadOnly(String(stmt.locking_read));
    let scope = outer;
    if (Array.isArray(stmt.with)) {
      const ctes = stmt.with.filter(isObj);
      const names = ctes.map((c) => (isObj(c.name) ? String(c.name.value) : String(c.name)));
      if (ctes.some((c) => c.recursive === true)) {
        scope = { names: new Set(names.map((n) => n.toLowerCase())), parent: outer };
        for (const c of ctes) this.walk(c.stmt, scope);
      } else
        ctes.forEach((c, i) => {
          this.walk(c.stmt, scope);
          scope = { names: new Set([(names[i] ?? '').toLowerCase()]), parent: scope };
        });
    }
    for (const [key, value] of Object.entries(stmt)) {
      if (key === 'with') continue;
      if (key === 'from' && Array.isArray(value)) {
        for (const item of value) this.fromItem(item, scope);
      } else if (key === '_next' && isObj(value)) this.select(value, outer);
      else this.walk(value, scope);
    }
  }

  fromItem(item: unknown, scope: Scope | undefined): void {
    if (!isObj(item)) return;
    if (typeof item.table === 'string') {
      const db = typeof item.db === 'string' ? item.db : undefined;
      const shown = db ? `${db}.${item.table}` : item.table;
      if (!db && inScope(scope, item.table)) {
        // a CTE
      } else {
        const q = this.resolve(db, item.table);
        if (!q)
          throw new SqlRefused(
            'sql_table_not_allowed',
            `Table ${shown} is not among the tables this source allows.`,
            shown,
          );
        this.tables.add(q);
        const rule = this.policies?.rule(q);
        if (rule) {
          // Row filters and masks: the reference becomes a subquery under the same name, which
          // is not walked again (its filters passed layer 1 when the policy was saved).
          const name = item.table;
          delete item.db;
          delete item.table;
          item.expr = { ast: governedSelect(q, rule), parentheses: true };
          item.as = typeof item.as === 'string' && item.as ? item.as : name;
          for (const [key, value] of Object.entries(item))
            if (key !== 'expr') this.walk(value, scope);
          return;
        }
      }
    } else if (item.type === 'dual') {
      // FROM DUAL reads nothing
    } else if (!isObj(item.expr))
      throw new SqlRefused(
        'sql_table_not_allowed',
        'Only tables and subqueries may appear in FROM.',
        JSON.stringify(item).slice(0, 80),
      );
    for (const [key, value] of Object.entries(item)) if (key !== 'table') this.walk(value, scope);
  }

  resolve(db: string | undefined, name: string): string | undefined {
    const { schemas, tables } = this.rules;
    for (const s of db ? [db] : schemas) {
      const schema = schemas.find((x) => x.toLowerCase() === s.toLowerCase());
      if (!schema) continue;
      // MySQL table names follow the file system's case rules; compare as the server does on Linux.
      const q = `${schema}.${name}`;
      if (!tables || tables.has(q)) return q;
    }
    return undefined;
  }
}

/** Checks one MySQL statement against layer 1; returns it regenerated from the checked tree. */
export function validateMysql(sql: string, rules: TableRules, policies?: PolicyRewrite): Validated {
  let ast: ReturnType<typeof parser.astify>;
  try {
    ast = parser.astify(sql, OPTIONS);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new SqlRefused(
      'sql_parse_error',
      `The query does not parse: ${message.slice(0, 300)}`,
      sql.slice(0, 40),
    );
  }
  const list = Array.isArray(ast) ? ast : [ast];
  if (list.length !== 1)
    throw new SqlRefused(
      'sql_multiple_statements',
      `Exactly one statement is allowed; this has ${list.length}.`,
      sql.slice(0, 80),
    );
  const typed = list[0];
  const stmt: unknown = typed;
  if (!typed || !isObj(stmt)) throw new SqlRefused('sql_parse_error', 'The query is empty.', '');
  if (stmt.type !== 'select') throw notReadOnly(String(stmt.type).toUpperCase());
  const walker = new Walker(rules, policies);
  walker.select(stmt, undefined);
  const text = parser.sqlify(typed, OPTIONS);
  return { sql: text, tables: [...walker.tables].sort() };
}
