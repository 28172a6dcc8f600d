/**
 * The defog text-to-SQL fixtures (test/fixtures/text2sql, Apache-2.0): questions with gold SQL
 * in sql-eval's notation, expanded to plain statements, and the database dumps.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const TEXT2SQL_DIR = fileURLToPath(new URL('../fixtures/text2sql/', import.meta.url));

export interface GoldQuery {
  question: string;
  db: string;
  category: string;
  /** One expanded gold statement (a question may have several alternatives). */
  sql: string;
  /** Index of the question in questions.csv. */
  index: number;
}

/** RFC 4180 CSV: quoted fields with doubled quotes and embedded newlines. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** Splits on `;` outside string literals. */
function statements(sql: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote = false;
  for (const c of sql) {
    if (c === "'") quote = !quote;
    if (c === ';' && !quote) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** sql-eval's notation: `{a,b}` lists acceptable columns (all kept), a bare `{}` repeats the last list. */
export function expandGold(sql: string): string[] {
  return statements(sql).map((stmt) => {
    let last = '';
    return stmt.replace(/\{([^}]*)\}/g, (_m, inner: string) => {
      if (inner.trim() === '') return last;
      last = inner;
      return inner;
    });
  });
}

/** Every gold statement of questions.csv, expanded; optionally only some databases. */
export function goldQueries(dbs?: readonly string[]): GoldQuery[] {
  const [header, ...rows] = parseCsv(readFileSync(`${TEXT2SQL_DIR}questions.csv`, 'utf8'));
  const col = (name: string): number => (header ?? []).indexOf(name);
  const out: GoldQuery[] = [];
  rows.forEach((r, index) => {
    const db = r[col('db_name')] ?? '';
    if (dbs && !dbs.includes(db)) return;
    for (const sql of expandGold(r[col('query')] ?? ''))
      out.push({
        question: r[col('question')] ?? '',
        db,
        category: r[col('query_category')] ?? '',
        sql,
        index,
      });
  });
  return out;
}

export const TEXT2SQL_DATABASES = [
  'academic',
  'advising',
  'atis',
  'broker',
  'car_dealership',
  'derm_treatment',
  'ewallet',
  'geography',
  'restaurants',
  'scholar',
  'yelp',
] as const;

/** The PostgreSQL dump of one database. */
export function databaseDump(db: string): string {
  return readFileSync(`${TEXT2SQL_DIR}databases/${db}/${db}.sql`, 'utf8');
}
