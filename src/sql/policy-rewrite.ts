/**
 * Row filters and column masks, applied on the parse tree: every reference to a governed table
 * becomes a subquery `(SELECT cols FROM schema.table WHERE filter) AS alias`, so no query,
 * however it is written, reads the table around them.
 */
import { parseSync } from 'libpg-query';

export interface ColumnInfo {
  name: string;
  /** The type as format_type() prints it (used to keep a masked column's type). */
  type: string;
}

/** What applies to one caller on one table. */
export interface TableGovernance {
  /** Boolean SQL expressions over the table's columns (already validated); any may hold. */
  filters: readonly string[];
  /** Columns replaced by NULL of their type. */
  masked: ReadonlySet<string>;
  /** The table's columns, needed to spell out the masked projection. */
  columns: readonly ColumnInfo[];
}

const ident = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/** The per-caller rewrite: which tables are governed and how. */
export class PolicyRewrite {
  constructor(private readonly tables: ReadonlyMap<string, TableGovernance>) {}

  get size(): number {
    return this.tables.size;
  }

  /** What applies to `qualified` (schema.table), when anything does. */
  rule(qualified: string): TableGovernance | undefined {
    const rule = this.tables.get(qualified);
    return rule && (rule.filters.length > 0 || rule.masked.size > 0) ? rule : undefined;
  }

  /** The RangeSubselect replacing a reference to `qualified`, or undefined when it is not governed. */
  replacement(qualified: string, rangeVar: unknown): Record<string, unknown> | undefined {
    const rule = this.rule(qualified);
    if (!rule) return undefined;
    const dot = qualified.indexOf('.');
    const schema = qualified.slice(0, dot);
    const table = qualified.slice(dot + 1);
    const projection =
      rule.masked.size === 0
        ? '*'
        : rule.columns
            .map((c) =>
              rule.masked.has(c.name)
                ? `CAST(NULL AS ${c.type}) AS ${ident(c.name)}`
                : ident(c.name),
            )
            .join(', ');
    const where =
      rule.filters.length === 0 ? '' : ` WHERE ${rule.filters.map((f) => `(${f})`).join(' OR ')}`;
    const tree = parseSync(`SELECT ${projection} FROM ${ident(schema)}.${ident(table)}${where}`);
    const stmt = tree.stmts?.[0]?.stmt;
    const rv =
      typeof rangeVar === 'object' && rangeVar !== null
        ? (rangeVar as { alias?: unknown; relname?: unknown })
        : {};
    return {
      subquery: stmt,
      alias: rv.alias ?? { aliasname: typeof rv.relname === 'string' ? rv.relname : table },
    };
  }
}
