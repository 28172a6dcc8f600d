import { int, type SettingDef } from './config-schema.js';

/** Settings of text-to-SQL (src/sql): layer 2's session limits. */
export const sqlSettings = {
  SQL_STATEMENT_TIMEOUT_MS: {
    schema: int(100, 600_000).default(10_000),
    description:
      'Text-to-SQL: statement_timeout of a query on a source (also its lock and idle-in-transaction bound); past it → 504 sql_timeout.',
    defaultText: '10000',
  },
  SQL_MAX_ROWS: {
    schema: int(1, 100_000).default(1_000),
    description:
      'Text-to-SQL: most rows a query returns (a request may ask for fewer); one more is fetched to report `truncated`.',
    defaultText: '1000',
  },
  SQL_MAX_RESULT_BYTES: {
    schema: int(1_024, 1_073_741_824).default(5_242_880),
    description:
      'Text-to-SQL: result size cap (JSON bytes of the rows); past it rows are cut and `truncated` is set.',
    defaultText: '5242880',
  },
} satisfies Record<string, SettingDef>;
