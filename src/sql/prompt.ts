/**
 * The prompt of /v1/sql/ask: the (linked) schema, the admins' descriptions and example
 * question → SQL pairs, and the question. Examples are what lift accuracy most.
 */
import type { ChatCall } from '../gateway/index.js';
import type { Catalogue, CatalogueTable } from './connector.js';
import type { Annotations } from './schemas.js';

/** Above this many tables the prompt carries only the ones the question seems to be about. */
export const LINK_ABOVE_TABLES = 12;
const LINKED_TABLES = 8;

const words = (s: string): string[] =>
  s
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 2)
    .map((w) => w.replace(/(ies|es|s)$/, ''));

/** Keyword schema linking: tables scored by the question's words in their names, columns and notes. */
export function linkSchema(catalogue: Catalogue, question: string, notes: Annotations): Catalogue {
  if (catalogue.tables.length <= LINK_ABOVE_TABLES) return catalogue;
  const asked = new Set(words(question));
  const score = (t: CatalogueTable): number => {
    const key = `${t.schema}.${t.name}`;
    const text = [
      t.name,
      t.comment ?? '',
      notes.tables[key] ?? notes.tables[t.name] ?? '',
      ...t.columns.flatMap((c) => [
        c.name,
        c.comment ?? '',
        notes.columns[`${t.name}.${c.name}`] ?? '',
        ...(c.values ?? []),
      ]),
    ].join(' ');
    const own = words(t.name).filter((w) => asked.has(w)).length * 3;
    return own + words(text).filter((w) => asked.has(w)).length;
  };
  const ranked = catalogue.tables
    .map((t) => ({ t, s: score(t) }))
    .sort((a, b) => b.s - a.s)
    .slice(0, LINKED_TABLES);
  const chosen = new Set(ranked.map((r) => `${r.t.schema}.${r.t.name}`));
  // Tables a chosen one references come along: joins need both ends.
  for (const r of ranked) for (const fk of r.t.foreignKeys) chosen.add(fk.references.table);
  return { tables: catalogue.tables.filter((t) => chosen.has(`${t.schema}.${t.name}`)) };
}

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
