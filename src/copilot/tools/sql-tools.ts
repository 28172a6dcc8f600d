import type { SqlQueryService } from '../../sql/index.js';
import { builtinSource, type ToolSource } from './registry.js';

/** Rows a SQL tool hands the model when the call names no limit: a context, not an export. */
const DEFAULT_ROWS = 100;
const source = {
  type: 'string',
  minLength: 1,
  maxLength: 100,
  description: "The SQL source's name or id.",
};

/**
 * `sql.query` and `sql.ask`: text-to-SQL as the run's caller. Everything of the SQL feature
 * applies as for its routes — `sql:query`, the source's policies for the caller, the parse-tree
 * validation, the read-only session, the row and byte caps — and each call is audited there.
 */
export function sqlToolSource(sql: SqlQueryService): ToolSource {
  return builtinSource('sql', [
    {
      name: 'sql.query',
      description:
        'Runs one read-only SQL statement on a configured SQL source and returns its columns and rows.',
      parameters: {
        type: 'object',
        properties: {
          source,
          sql: { type: 'string', minLength: 1, maxLength: 100_000 },
          limit: { type: 'integer', minimum: 1, maximum: 1000 },
        },
        required: ['source', 'sql'],
        additionalProperties: false,
      },
      sideEffect: false,
      permission: 'sql:query',
      call: async ({ principal, args, requestId }) => {
        const r = await sql.execute(
          principal,
          {
            source: String(args.source),
            sql: String(args.sql),
            limit: typeof args.limit === 'number' ? args.limit : DEFAULT_ROWS,
          },
          { requestId, ip: '' },
        );
        return { columns: r.columns, rows: r.rows, rowCount: r.rowCount, truncated: r.truncated };
      },
    },
    {
      name: 'sql.ask',
      description:
        'Answers a question from a configured SQL source: writes the SQL, runs it read-only, and returns the SQL with its result.',
      parameters: {
        type: 'object',
        properties: { source, question: { type: 'string', minLength: 1, maxLength: 4000 } },
        required: ['source', 'question'],
        additionalProperties: false,
      },
      sideEffect: false,
      permission: 'sql:query',
      call: async ({ principal, args, requestId }) => {
        const r = await sql.ask(
          principal,
          { source: String(args.source), question: String(args.question) },
          { requestId, ip: '' },
        );
        return {
          sql: r.sql,
          explanation: r.explanation,
          columns: r.columns,
          rows: r.rows.slice(0, DEFAULT_ROWS),
          rowCount: r.rowCount,
          truncated: r.truncated || r.rows.length > DEFAULT_ROWS,
        };
      },
    },
  ]);
}
