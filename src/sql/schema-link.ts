/**
 * Schema linking for /v1/sql/ask on large schemas: the prompt carries only the tables (and, of
 * wide tables, the columns) the question seems to be about, found by keyword over the catalogue
 * and the admins' annotations AND by embedding similarity over the same text, fused by rank.
 * Embeddings come from the tenant's embedder (the knowledge hub's: its embedding alias through
 * the gateway, metered to the tenant, else the platform default, else the local hashed one);
 * the vectors of the schema's texts are held per tenant and model, so an ask embeds the
 * question and only schema text it has not seen.
 */
import type { Principal } from '../platform/http/principal.js';
import type { Catalogue, CatalogueColumn, CatalogueTable } from './connector.js';
import type { Annotations } from './schemas.js';

/** Above this many tables the prompt carries only the ones the question seems to be about. */
export const LINK_ABOVE_TABLES = 12;
export const LINKED_TABLES = 8;
/** Tables wider than this keep only their keys and the columns the question seems to need. */
export const WIDE_TABLE_COLUMNS = 24;
const LINKED_COLUMNS = 12;
/** A table is linked by embedding alone when its similarity is at least this share of the best. */
const SIMILAR = 0.8;
const MAX_VECTORS = 50_000;

export interface SchemaEmbedder {
  /** Names the vector space (vectors of one model are never compared with another's). */
  readonly model: string;
  embed(texts: readonly string[]): Promise<number[][]>;
}

/** Where linking gets the caller's embedder (the knowledge hub's, in the app). */
export interface SchemaEmbedders {
  forCaller(caller: Principal, requestId: string): Promise<SchemaEmbedder>;
}

const words = (s: string): string[] =>
  s
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 2)
    .map((w) => w.replace(/(ies|es|s)$/, ''));

const note = (notes: Annotations, t: CatalogueTable, c?: CatalogueColumn): string => {
  const key = `${t.schema}.${t.name}`;
  if (!c) return notes.tables[key] ?? notes.tables[t.name] ?? t.comment ?? '';
  return (
    notes.columns[`${key}.${c.name}`] ?? notes.columns[`${t.name}.${c.name}`] ?? c.comment ?? ''
  );
};

/** The text a table is found by: names, comments, notes, values, and example questions using it. */
function tableText(t: CatalogueTable, notes: Annotations): string {
  const examples = notes.examples
    .filter((e) => new RegExp(`\\b${t.name}\\b`, 'i').test(e.sql))
    .map((e) => e.question);
  return [
    t.name.replace(/_/g, ' '),
    note(notes, t),
    ...t.columns.map((c) => `${c.name.replace(/_/g, ' ')} ${note(notes, t, c)}`),
    ...examples,
  ].join('\n');
}

const columnText = (t: CatalogueTable, c: CatalogueColumn, notes: Annotations): string =>
  `${t.name.replace(/_/g, ' ')} ${c.name.replace(/_/g, ' ')} ${note(notes, t, c)} ${(c.values ?? []).join(' ')}`;

function keywordScore(text: string, name: string, asked: ReadonlySet<string>): number {
  return (
    words(name).filter((w) => asked.has(w)).length * 3 +
    words(text).filter((w) => asked.has(w)).length
  );
}

function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** Reciprocal rank fusion of two scorings of the same items: indexes, best first. */
function fuse(a: readonly number[], b: readonly number[] | undefined): number[] {
  const rank = (xs: readonly number[]): number[] => {
    const order = xs.map((_, i) => i).sort((i, j) => (xs[j] ?? 0) - (xs[i] ?? 0));
    const r: number[] = [];
    order.forEach((item, pos) => (r[item] = xs[item] === 0 ? Infinity : pos));
    return r;
  };
  const ra = rank(a);
  const rb = b ? rank(b) : undefined;
  const score = a.map((_, i) => 1 / (60 + (ra[i] ?? 0)) + (rb ? 1 / (60 + (rb[i] ?? 0)) : 0));
  return score.map((_, i) => i).sort((i, j) => (score[j] ?? 0) - (score[i] ?? 0));
}

export class SchemaLinker {
  readonly #vectors = new Map<string, number[]>();

  constructor(private readonly embedders: SchemaEmbedders | undefined) {}

  /** Vectors of `texts`, embedding (in one call) only those not held for this tenant and model. */
  async #embed(
    tenantId: string,
    embedder: SchemaEmbedder,
    texts: readonly string[],
  ): Promise<number[][]> {
    const key = (t: string): string => `${tenantId}\0${embedder.model}\0${t}`;
    const missing = [...new Set(texts.filter((t) => !this.#vectors.has(key(t))))];
    if (missing.length > 0) {
      const vectors = await embedder.embed(missing);
      if (this.#vectors.size + missing.length > MAX_VECTORS) this.#vectors.clear();
      missing.forEach((t, i) => this.#vectors.set(key(t), vectors[i] ?? []));
    }
    return texts.map((t) => this.#vectors.get(key(t)) ?? []);
  }

  /** The part of the catalogue a question needs (all of it when the schema is small). */
  async link(
    caller: Principal,
    requestId: string,
    catalogue: Catalogue,
    question: string,
    notes: Annotations,
  ): Promise<Catalogue> {
    if (catalogue.tables.length <= LINK_ABOVE_TABLES) return catalogue;
    const asked = new Set(words(question));
    const texts = catalogue.tables.map((t) => tableText(t, notes));
    const keyword = catalogue.tables.map((t, i) => keywordScore(texts[i] ?? '', t.name, asked));
    const embedder = this.embedders ? await this.embedders.forCaller(caller, requestId) : undefined;
    let similarity: number[] | undefined;
    let q: number[] | undefined;
    if (embedder) {
      const [first, ...vectors] = await this.#embed(caller.tenantId, embedder, [
        question,
        ...texts,
      ]);
      q = first ?? [];
      similarity = vectors.map((v) => cosine(q ?? [], v));
    }
    // Only tables something points at: a keyword, or a similarity near the best one.
    const best = Math.max(0, ...(similarity ?? []));
    const relevant = (i: number): boolean =>
      (keyword[i] ?? 0) > 0 || (similarity !== undefined && (similarity[i] ?? 0) >= best * SIMILAR);
    const fused = fuse(keyword, similarity);
    const pointed = fused.filter(relevant);
    const order = (pointed.length > 0 ? pointed : fused).slice(0, LINKED_TABLES);
    const chosen = new Set(
      order.map((i) => catalogue.tables[i]).map((t) => `${t?.schema}.${t?.name}`),
    );
    // Tables a chosen one references come along: joins need both ends.
    for (const i of order)
      for (const fk of catalogue.tables[i]?.foreignKeys ?? []) chosen.add(fk.references.table);
    const tables = catalogue.tables.filter((t) => chosen.has(`${t.schema}.${t.name}`));
    const narrowed: CatalogueTable[] = [];
    for (const t of tables)
      narrowed.push(
        t.columns.length > WIDE_TABLE_COLUMNS
          ? await this.#columns(caller.tenantId, embedder, q, t, asked, notes)
          : t,
      );
    return { tables: narrowed };
  }

  /** A wide table's keys plus the columns ranked highest by keyword and embedding. */
  async #columns(
    tenantId: string,
    embedder: SchemaEmbedder | undefined,
    q: number[] | undefined,
    t: CatalogueTable,
    asked: ReadonlySet<string>,
    notes: Annotations,
  ): Promise<CatalogueTable> {
    const texts = t.columns.map((c) => columnText(t, c, notes));
    const keyword = t.columns.map((c, i) => keywordScore(texts[i] ?? '', c.name, asked));
    const similarity =
      embedder && q
        ? (await this.#embed(tenantId, embedder, texts)).map((v) => cosine(q, v))
        : undefined;
    const keep = new Set([
      ...t.primaryKey,
      ...t.foreignKeys.flatMap((f) => f.columns),
      ...fuse(keyword, similarity)
        .slice(0, LINKED_COLUMNS)
        .map((i) => t.columns[i]?.name ?? ''),
    ]);
    return { ...t, columns: t.columns.filter((c) => keep.has(c.name)) };
  }
}
