import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createTestApp } from '../test/helpers/app.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { apiClient } from '../test/helpers/identity-api.js';
import { loadPgSources } from '../test/helpers/sql-sources.js';
const sources = await loadPgSources('postgres://root@127.0.0.1:5432/test', ['restaurants']);
const rdb = await createTestDatabase(process.env.RPG ? 'postgres' : 'pglite');
const app = await createTestApp(rdb.db, { RAMPART_MASTER_KEY: randomBytes(32).toString('base64'), LOG_LEVEL: 'warn' });
const call = apiClient(app);
const owner = (await app.createTenant()).ownerKey;
await call('POST', '/v1/sql/sources', owner, { name: 'r', type: 'postgres', url: sources.readerUrl('restaurants') });
const t: number[] = []; const h: number[] = [];
for (let i = 0; i < 300; i++) {
  let t0 = performance.now();
  await call('POST', '/v1/sql/query', owner, { source: 'r', sql: 'SELECT 1' });
  t.push(performance.now() - t0);
  t0 = performance.now();
  await call('GET', '/v1/sql/sources', owner);
  h.push(performance.now() - t0);
}
const p = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2);
console.log('query p50', p(t), 'list p50', p(h));
await app.close(); await rdb.close(); await sources.drop();
