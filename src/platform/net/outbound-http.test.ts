import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboundHttp } from './outbound-http.js';

describe('guarded outbound HTTP', () => {
  const seen: IncomingMessage[] = [];
  let port = 0;
  const server = createServer((req, res) => {
    seen.push(req);
    if (req.url === '/hop') {
      // Another origin (localhost vs 127.0.0.1): the credential must not follow.
      res.writeHead(307, { location: `http://localhost:${port}/final` });
      return res.end();
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, auth: req.headers.authorization ?? null }));
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('refuses non-public addresses, literal or resolved, before connecting', async () => {
    const http = new OutboundHttp({ allowPrivate: false });
    const before = seen.length;
    for (const url of [
      `http://127.0.0.1:${port}/x`,
      `http://localhost:${port}/x`,
      'http://169.254.169.254/latest/meta-data/',
      'http://[::ffff:127.0.0.1]:1/x',
    ]) {
      await expect(
        http.send({ method: 'GET', url, headers: {}, timeoutMs: 2000 }),
        url,
      ).rejects.toMatchObject({ code: 'ERR_RAMPART_BLOCKED_ADDRESS' });
    }
    expect(seen.length).toBe(before);
    await http.close();
  });

  // Each hop goes through the same guarded send as the first request (a public-to-private
  // redirect needs a public address, which tests do not have).
  it('follows redirects itself and drops Authorization across origins', async () => {
    const open = new OutboundHttp({ allowPrivate: true });
    const res = await open.send({
      method: 'POST',
      url: `http://127.0.0.1:${port}/hop`,
      headers: { authorization: 'Bearer tool-secret', 'content-type': 'application/json' },
      body: '{}',
      timeoutMs: 2000,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ path: '/final', auth: null });
    await open.close();
  });
});
