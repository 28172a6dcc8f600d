import { createHash } from 'node:crypto';
/**
 * The prompt of /v1/sql/ask: the (linked) schema, the admins' descriptions and example
 * question → SQL pairs, and the question. Examples are what lift accuracy most.
 */
import type { ChatCall } from '../gateway/index.js';
import type { Catalogue, CatalogueTable } from './connector.js';
import type { Annotations } from './schemas.js';

function describeTable(t: CatalogueTable, notes: Annotations): string {
  const key = `${t.schema}.${t.name}`;
  const note = notes.tables[key] ?? notes.tables[t.name] ?? t.comment;
  const cols = t.columns.map((c) => {
    const n =
      notes.columns[`${t.name}.${c.name}`] ?? notes.columns[`${key}.${c.name}`] ?? c.comment;
    const values = c.values ? ` values: ${c.values.map((v) => `'${v}'`).join(', ')}` : '';
    return `  ${c.name} ${c.type}${t.primaryKey.includes(c.name) ? ' PRIMARY KEY' : ''}${n ? ` -- ${n}` : ''}${values}`;
  });
  const fks = t.foreignKeys.map(
    (f) =>
      `  FOREIGN KEY (${f.columns.join(', ')}) REFERENCES ${f.references.table} (${f.references.columns.join(', ')})`,
  );
  return `TABLE ${key}${note ? ` -- ${note}` : ''}\n${[...cols, ...fks].join('\n')}`;
}

/** The chat messages for one question. */
export function askPrompt(
  dialect: 'postgres' | 'mysql',
  catalogue: Catalogue,
  notes: Annotations,
  question: string,
  description: string,
): ChatCall['messages'] {
  const system = [
    `You translate questions into one read-only SQL SELECT for ${dialect === 'postgres' ? 'PostgreSQL' : 'MySQL/MariaDB'}.`,
    'Use only the tables and columns below. Reply with the query in a ```sql block, then one sentence explaining it.',
    description ? `About this database: ${description}` : '',
    'Schema:',
    catalogue.tables.map((t) => describeTable(t, notes)).join('\n\n'),
  ]
    .filter(Boolean)
    .join('\n');
  const messages: ChatCall['messages'] = [{ role: 'system', content: system }];
  for (const ex of notes.examples.slice(0, 20)) {
    messages.push({ role: 'user', content: ex.question });
    messages.push({ role: 'assistant', content: `\`\`\`sql\n${ex.sql}\n\`\`\`` });
  }
  messages.push({ role: 'user', content: question });
  return messages;
}

/** The ask prompt's template id, as request records name it. */
export const SQL_PROMPT_TEMPLATE = 'sql.ask';

/**
 * Its version: a digest of the prompt rendered for an empty schema, so it changes whenever the
 * template's wording does (the schema and examples are the tenant's, in the rendered prompt).
 */
export const SQL_PROMPT_VERSION = createHash('sha256')
  .update(
    JSON.stringify(
      (['postgres', 'mysql'] as const).map((d) =>
        askPrompt(d, { tables: [] }, { tables: {}, columns: {}, examples: [] }, '{question}', ''),
      ),
    ),
  )
  .digest('hex')
  .slice(0, 12);

/** The SQL of a model's answer (a ```sql block, else the whole text) and the prose around it. */
export function extractSql(answer: string): { sql: string; explanation: string } {
  const block = /```(?:sql)?\s*([\s\S]*?)```/i.exec(answer);
  if (block) {
    const sql = (block[1] ?? '').trim().replace(/;\s*$/, '');
    const explanation = answer.replace(block[0], '').trim();
    return { sql, explanation };
  }
  const text = answer.trim();
  return /^\s*(select|with)\b/i.test(text)
    ? { sql: text.replace(/;\s*$/, ''), explanation: '' }
    : { sql: '', explanation: text };
}
