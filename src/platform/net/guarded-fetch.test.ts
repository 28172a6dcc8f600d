import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardedFetch, reportingFailures } from './guarded-fetch.js';

describe('reportingFailures', () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      res.statusCode = req.url === '/down' ? 503 : req.url === '/missing' ? 404 : 200;
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function counted(allowPrivate: boolean) {
    const seen = { failures: 0 };
    const fetch = reportingFailures(guardedFetch(allowPrivate, 2000), () => {
      seen.failures += 1;
    });
    return { fetch, seen };
  }

  it('counts a 5xx answer and a refused connection, not a 2xx or a 4xx', async () => {
    const { fetch, seen } = counted(true);
    expect((await fetch(`${base}/ok`, {})).status).toBe(200);
    expect((await fetch(`${base}/missing`, {})).status).toBe(404);
    expect(seen.failures).toBe(0);
    expect((await fetch(`${base}/down`, {})).status).toBe(503);
    expect(seen.failures).toBe(1);
    // Port 1 on loopback: nothing listens, the connection is refused.
    await expect(fetch('http://127.0.0.1:1/', {})).rejects.toThrow();
    expect(seen.failures).toBe(2);
  });

  it('does not count an address the outbound guard refuses (a setting, not an outage)', async () => {
    const { fetch, seen } = counted(false);
    await expect(fetch(`${base}/ok`, {})).rejects.toThrow(/not a public address|private|loopback/i);
    expect(seen.failures).toBe(0);
  });
});
