import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { seedKnowledgeCorpus } from './helpers/knowledge-corpus.js';

const K1 = 0.9;
const B = 0.4;

const DOCS: { title: string; text: string; groups?: string[] }[] = [
  { title: 'Copper', text: 'Copper wire conducts current. Copper wiring is common in houses.' },
  { title: 'Brass', text: 'Brass fittings join copper pipes in the plumbing of old houses.' },
  { title: 'Steel', text: 'Steel beams carry the load of tall buildings and long bridges.' },
  { title: 'Plumbing', text: 'Plumbing codes say which pipes and fittings a house may use.' },
  {
    title: 'Secret alloy',
    text: 'The secret copper alloy of the legal team: copper, copper and more copper pipes.',
    groups: ['legal'],
  },
];

/**
 * The reference: Okapi BM25 written out in TypeScript from the chunks' tsvectors, over the
 * chunks the caller can see. The SQL ranking (postings table, migration 0006) must match it.
 */
function referenceBm25(
  chunks: { id: string; tf: Map<string, number> }[],
  terms: string[],
): Map<string, number> {
  const n = chunks.length;
  const len = (c: { tf: Map<string, number> }) => [...c.tf.values()].reduce((a, b) => a + b, 0);
  const avgdl = chunks.reduce((s, c) => s + len(c), 0) / n;
  const scores = new Map<string, number>();
  for (const term of terms) {
    const df = chunks.filter((c) => c.tf.has(term)).length;
    if (df === 0) continue;
    const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
    for (const c of chunks) {
      const tf = c.tf.get(term);
      if (!tf) continue;
      const part = (idf * (tf * (K1 + 1))) / (tf + K1 * (1 - B + (B * len(c)) / avgdl));
      scores.set(c.id, (scores.get(c.id) ?? 0) + part);
    }
  }
  return scores;
}

describe.each(testDrivers())('knowledge hub: BM25 scores (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let tenant: { id: string; ownerKey: string };
  let plainKey: string;
  let legalKey: string;

  /** Each visible chunk's term frequencies, straight from to_tsvector (not from chunk_terms). */
  const visibleChunks = async (groups: string[]) => {
    const { rows } = await t.asOwner((q) =>
      q.query<{ id: string; tf: [string, number][] }>(
        `SELECT c.id, (SELECT json_agg(json_build_array(u.lexeme, coalesce(array_length(u.positions, 1), 1)))
                         FROM unnest(to_tsvector('english', c.text)) u) AS tf
           FROM chunks c WHERE c.tenant_id = $1 AND (c.groups = '{}' OR c.groups && $2::text[])`,
        [tenant.id, groups],
      ),
    );
    return rows.map((r) => ({ id: r.id, tf: new Map(r.tf) }));
  };
  const queryTerms = async (query: string): Promise<string[]> => {
    const { rows } = await t.asOwner((q) =>
      q.query<{ terms: string[] }>(
        `SELECT tsvector_to_array(to_tsvector('english', $1)) AS terms`,
        [query],
      ),
    );
    return rows[0]?.terms ?? [];
  };
  const keywordSearch = async (k: string, query: string) => {
    const res = await app.app.inject({
      method: 'POST',
      url: '/v1/search',
      headers: bearer(k),
      payload: { query, mode: 'keyword', k: 10 },
    });
    expect(res.statusCode).toBe(200);
    return (res.json() as { data: { chunkId: string; score: number }[] }).data;
  };

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db);
    ({ tenant, plainKey, legalKey } = await seedKnowledgeCorpus(
      app,
      t.db,
      DOCS.map((d) => ({ name: d.title, by: d.groups ? 'legal' : 'owner', payload: d })),
    ));
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it.each([
    ['a reader outside the group', [] as string[]],
    ['a reader in the group', ['legal']],
  ])('ranks exactly as BM25 over the chunks %s can see', async (_label, groups) => {
    const query = 'copper pipes in houses';
    const expected = referenceBm25(await visibleChunks(groups), await queryTerms(query));
    const hits = await keywordSearch(groups.length ? legalKey : plainKey, query);
    expect(hits.map((h) => h.chunkId).sort()).toEqual([...expected.keys()].sort());
    for (const h of hits) expect(h.score).toBeCloseTo(expected.get(h.chunkId) as number, 9);
    const scores = hits.map((h) => h.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it("a restricted document's words do not shape what others see", async () => {
    // Outside the group there is one fewer chunk with "copper": its idf, and so the scores, differ.
    const plain = await keywordSearch(plainKey, 'copper');
    const legal = await keywordSearch(legalKey, 'copper');
    expect(legal.length).toBe(plain.length + 1);
    const shared = plain[0]?.chunkId;
    const inLegal = legal.find((h) => h.chunkId === shared);
    expect(inLegal?.score).not.toBeCloseTo(plain[0]?.score as number, 6);
  });

  it('deleting a document removes its postings with its chunks', async () => {
    const { rows } = await t.asOwner((q) =>
      q.query<{ id: string }>(`SELECT id FROM documents WHERE title = 'Steel' AND tenant_id = $1`, [
        tenant.id,
      ]),
    );
    const id = rows[0]?.id as string;
    const del = await app.app.inject({
      method: 'DELETE',
      url: `/v1/documents/${id}`,
      headers: bearer(tenant.ownerKey),
    });
    expect(del.statusCode).toBe(204);
    const left = await t.asOwner((q) =>
      q.query<{ n: number }>(`SELECT count(*)::int AS n FROM chunk_terms WHERE document_id = $1`, [
        id,
      ]),
    );
    expect(left.rows[0]?.n).toBe(0);
    expect(await keywordSearch(plainKey, 'steel beams bridges')).toEqual([]);
  });
});
