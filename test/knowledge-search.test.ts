import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reciprocalRankFusion } from '../src/knowledge/search.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { MERGER_MEMO, seedKnowledgeCorpus } from './helpers/knowledge-corpus.js';

interface Hit {
  chunkId: string;
  documentId: string;
  title: string;
  text: string;
  score: number;
  page: number | null;
  headingPath: string[];
}
const MODES = ['hybrid', 'vector', 'keyword'] as const;

describe('reciprocalRankFusion', () => {
  it('rewards items ranked well by both lists', () => {
    const fused = reciprocalRankFusion([
      ['a', 'b', 'c'],
      ['b', 'c', 'd'],
    ]);
    const order = [...fused.entries()].sort((x, y) => y[1] - x[1]).map(([id]) => id);
    expect(order).toEqual(['b', 'c', 'a', 'd']);
    expect(fused.get('b')).toBeCloseTo(1 / 62 + 1 / 61, 12);
  });
});

describe.each(testDrivers())('knowledge hub: permission-aware search (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let plainKey: string;
  let legalKey: string;
  let ids: Record<string, string> = {};

  const search = async (key: string, body: Record<string, unknown>) => {
    const res = await app.app.inject({
      method: 'POST',
      url: '/v1/search',
      headers: bearer(key),
      payload: body,
    });
    expect(res.statusCode).toBe(200);
    return (res.json() as { data: Hit[] }).data;
  };
  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db);
    ({ plainKey, legalKey, ids } = await seedKnowledgeCorpus(app, t.db, [
      {
        name: 'refunds',
        payload: {
          title: 'Refund policy',
          markdown:
            '# Refunds\n\nCustomers may request a refund within 30 days of purchase. Refunds are paid to the original card.',
          tags: ['policy'],
        },
      },
      {
        name: 'shipping',
        payload: {
          title: 'Shipping',
          text: 'Orders ship within two business days by courier. Tracking numbers are e-mailed.',
        },
      },
      {
        name: 'security',
        payload: {
          title: 'Security',
          text: 'Passwords are hashed with argon2id and never stored in clear text.',
        },
      },
      MERGER_MEMO,
    ]));
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it.each(MODES)('%s mode ranks the matching document first, with its metadata', async (mode) => {
    const hits = await search(plainKey, { query: 'how do I request a refund', mode, k: 5 });
    expect(hits[0]).toMatchObject({
      documentId: ids.refunds,
      title: 'Refund policy',
      headingPath: ['Refunds'],
      page: null,
    });
    expect(hits[0]?.text).toContain('request a refund within 30 days');
    const scores = hits.map((h) => h.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it('keyword mode is BM25 over stemmed words: a rare term decides the ranking', async () => {
    const hits = await search(plainKey, { query: 'argon2id passwords', mode: 'keyword' });
    expect(hits.map((h) => h.documentId)).toEqual([ids.security]);
    expect(hits[0]?.score).toBeGreaterThan(0);
    // Stemming: "shipped" matches "ship".
    const stemmed = await search(plainKey, { query: 'shipped', mode: 'keyword' });
    expect(stemmed.map((h) => h.documentId)).toEqual([ids.shipping]);
  });

  it('never returns chunks of a group-restricted document to a caller outside the group, in any mode', async () => {
    for (const mode of MODES) {
      const hits = await search(plainKey, {
        query: 'Globex merger refund obligations',
        mode,
        k: 50,
      });
      expect(
        hits.map((h) => h.documentId),
        mode,
      ).not.toContain(ids.merger);
      const member = await search(legalKey, {
        query: 'Globex merger refund obligations',
        mode,
        k: 50,
      });
      expect(member[0]?.documentId, mode).toBe(ids.merger);
    }
    // Even when asked for it by id.
    const direct = await search(plainKey, {
      query: 'Globex',
      mode: 'keyword',
      filter: { documentIds: [ids.merger] },
    });
    expect(direct).toEqual([]);
  });

  it('filters by document ids and tags', async () => {
    const byTag = await search(plainKey, {
      query: 'refund card courier',
      mode: 'hybrid',
      filter: { tags: ['policy'] },
    });
    expect(new Set(byTag.map((h) => h.documentId))).toEqual(new Set([ids.refunds]));
    const byId = await search(plainKey, {
      query: 'refund card courier',
      mode: 'vector',
      filter: { documentIds: [ids.shipping] },
    });
    expect(new Set(byId.map((h) => h.documentId))).toEqual(new Set([ids.shipping]));
  });

  it("another tenant's search sees none of these documents", async () => {
    const other = await app.createTenant();
    for (const mode of MODES)
      expect(await search(other.ownerKey, { query: 'refund', mode })).toEqual([]);
  });

  it('answers extractively with citations, citing only chunks the caller may read', async () => {
    const ask = async (key: string, question: string) => {
      const res = await app.app.inject({
        method: 'POST',
        url: '/v1/ask',
        headers: bearer(key),
        payload: { question },
      });
      expect(res.statusCode).toBe(200);
      return res.json() as {
        answer: string;
        mode: string;
        citations: { documentId: string; chunkId: string; title: string; snippet: string }[];
      };
    };
    const a = await ask(plainKey, 'How many days do customers have to request a refund?');
    expect(a.mode).toBe('extractive');
    expect(a.answer).toContain('Customers may request a refund within 30 days of purchase. [1]');
    expect(a.citations[0]).toMatchObject({ documentId: ids.refunds, title: 'Refund policy' });
    const outsider = await ask(plainKey, 'When does the Globex merger close?');
    expect(outsider.citations.map((c) => c.documentId)).not.toContain(ids.merger);
    expect(outsider.answer).not.toContain('Globex');
    const member = await ask(legalKey, 'When does the Globex merger close?');
    expect(member.answer).toContain('The Globex merger closes in March. [1]');
    expect(member.citations[0]?.documentId).toBe(ids.merger);
    const none = await ask(plainKey, 'zebra quantum');
    expect(none).toEqual({
      answer: 'No document you can read answers this question.',
      citations: [],
      mode: 'extractive',
    });
  });

  it('a query of stop words only finds nothing by keyword and does not fail', async () => {
    expect(await search(plainKey, { query: 'the and of', mode: 'keyword' })).toEqual([]);
  });
});
