import type { Database } from '../../src/platform/db/database.js';
import { createWorker } from '../../src/jobs.js';
import { bearer, type TestApp } from './app.js';

/** A document of a test corpus: uploaded by the owner, or by the "legal" member key. */
export interface CorpusDoc {
  name: string;
  by?: 'owner' | 'legal';
  payload: Record<string, unknown>;
}

export interface SeededCorpus {
  tenant: { id: string; slug: string; ownerKey: string };
  /** A member key in no group: sees only tenant-wide documents. */
  plainKey: string;
  /** A member key in group "legal". */
  legalKey: string;
  /** Document ids by CorpusDoc name. */
  ids: Record<string, string>;
}

/** The restricted document the permission tests search for: visible to group "legal" only. */
export const MERGER_MEMO: CorpusDoc = {
  name: 'merger',
  by: 'legal',
  payload: {
    title: 'Merger memo',
    text: 'The Globex merger closes in March. Refund obligations of Globex transfer to the buyer.',
    groups: ['legal'],
  },
};

/**
 * The fixture the knowledge suites share: a fresh tenant with an ungrouped member key and a
 * "legal" member key, and the given documents uploaded through the API and ingested by the
 * real worker (drained, so every document is settled when this returns).
 */
export async function seedKnowledgeCorpus(
  app: TestApp,
  db: Database,
  docs: readonly CorpusDoc[],
): Promise<SeededCorpus> {
  const tenant = await app.createTenant();
  const memberKey = async (groups: string[]): Promise<string> => {
    const res = await app.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: bearer(tenant.ownerKey),
      payload: { name: `k-${groups.join('-') || 'none'}`, role: 'member', groups },
    });
    if (res.statusCode !== 201) throw new Error(`creating a key failed: ${res.body}`);
    return (res.json() as { secret: string }).secret;
  };
  const group = await app.app.inject({
    method: 'POST',
    url: '/v1/groups',
    headers: bearer(tenant.ownerKey),
    payload: { name: 'legal' },
  });
  if (group.statusCode !== 201) throw new Error(`creating group legal failed: ${group.body}`);
  const plainKey = await memberKey([]);
  const legalKey = await memberKey(['legal']);
  const ids: Record<string, string> = {};
  for (const d of docs) {
    const res = await app.app.inject({
      method: 'POST',
      url: '/v1/documents',
      headers: bearer(d.by === 'legal' ? legalKey : tenant.ownerKey),
      payload: d.payload,
    });
    if (res.statusCode !== 202) throw new Error(`uploading ${d.name} failed: ${res.body}`);
    ids[d.name] = (res.json() as { id: string }).id;
  }
  await createWorker(db, app.config, undefined, app.gateway.calls).drain();
  return { tenant, plainKey, legalKey, ids };
}
