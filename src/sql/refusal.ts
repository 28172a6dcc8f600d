import { AppError } from '../platform/http/errors.js';

/** Why layer 1 refused a statement: the stable codes of issue #24. */
export type RefusalCode =
  | 'sql_parse_error'
  | 'sql_not_read_only'
  | 'sql_multiple_statements'
  | 'sql_function_not_allowed'
  | 'sql_table_not_allowed';

export const REFUSAL_CODES: readonly RefusalCode[] = [
  'sql_parse_error',
  'sql_not_read_only',
  'sql_multiple_statements',
  'sql_function_not_allowed',
  'sql_table_not_allowed',
];

/** A statement the validator refused: 422 with the code and the offending part of the query. */
export class SqlRefused extends AppError {
  constructor(
    readonly refusal: RefusalCode,
    message: string,
    readonly offending: string,
  ) {
    super(422, refusal, message, { offending });
  }
}
