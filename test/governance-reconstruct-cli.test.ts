import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from '../src/jobs.js';
import { cliFixture, runCli, type CliFixture } from './helpers/cli.js';
import { bearer, createTestApp } from './helpers/app.js';
import { testDrivers } from './helpers/db.js';

describe.each(testDrivers())('rampart audit reconstruct (%s)', (driver) => {
  let f: CliFixture;
  let slug: string;
  let requestId: string;
  let chunkId: string;

  beforeAll(async () => {
    f = await cliFixture(driver);
    ({ slug, requestId, chunkId } = await f.use(async (db) => {
      const app = await createTestApp(db);
      try {
        const tenant = await app.createTenant();
        const up = await app.app.inject({
          method: 'POST',
          url: '/v1/documents',
          headers: bearer(tenant.ownerKey),
          payload: {
            title: 'Refund policy',
            text: 'Customers may request a refund within 30 days.',
          },
        });
        expect(up.statusCode).toBe(202);
        await createWorker(db, app.config, undefined, app.gateway.calls).drain();
        // Extractive: no model needed; the answer cites the chunk it quotes.
        const res = await app.app.inject({
          method: 'POST',
          url: '/v1/ask',
          headers: bearer(tenant.ownerKey),
          payload: { question: 'When can customers request a refund?', mode: 'extractive' },
        });
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json() as { citations: { chunkId: string }[] };
        return {
          slug: tenant.slug,
          requestId: String(res.headers['x-request-id']),
          chunkId: body.citations[0]?.chunkId ?? '',
        };
      } finally {
        await app.close();
      }
    }));
  }, 120_000);
  afterAll(async () => {
    await f?.close();
  });

  it('prints the record, then flags the cited chunk once it changed (exit 1)', async () => {
    const clean = await runCli(
      ['audit', 'reconstruct', '--tenant', slug, '--request', requestId],
      f.env,
    );
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toContain(`request ${requestId} of ${slug} (ask`);
    expect(clean.stdout).toContain('When can customers request a refund?');
    expect(clean.stdout).toContain(`[ok] ${chunkId}`);
    expect(clean.stdout).toContain('cited content: unchanged since the answer');

    await f.use((_db, owner) =>
      owner.query(`UPDATE chunks SET text = 'Never.', content_hash = 'edited' WHERE id = $1`, [
        chunkId,
      ]),
    );
    const flagged = await runCli(
      ['audit', 'reconstruct', '--tenant', slug, '--request', requestId],
      f.env,
    );
    expect(flagged.code, flagged.stderr).toBe(1);
    expect(flagged.stdout).toContain(`[CHANGED] ${chunkId}`);
    expect(flagged.stdout).toContain(`${chunkId} changed`);

    const unknown = await runCli(
      ['audit', 'reconstruct', '--tenant', slug, '--request', 'no-such-request'],
      f.env,
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("no request record 'no-such-request'");
    // Three CLI processes, each booting the app's modules and opening the database.
  }, 600_000);
});
