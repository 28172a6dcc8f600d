import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientCancel } from './cancel.js';

describe('ClientCancel', () => {
  it('runs each listener once, skips removed ones, and reports an AbortError reason', () => {
    const cancel = new ClientCancel();
    const calls: string[] = [];
    const kept = () => calls.push('kept');
    const removed = () => calls.push('removed');
    cancel.addEventListener('abort', kept);
    cancel.addEventListener('abort', removed);
    cancel.removeEventListener('abort', removed);
    expect(cancel.aborted).toBe(false);
    expect(cancel.reason).toBeUndefined();
    cancel.abort();
    cancel.abort();
    expect(calls).toEqual(['kept']);
    expect(cancel.aborted).toBe(true);
    expect(cancel.reason).toBeInstanceOf(DOMException);
    expect((cancel.reason as DOMException).name).toBe('AbortError');
  });

  describe('as the signal of an undici request', () => {
    let server: Server;
    let url: string;
    let closed = 0;
    beforeAll(async () => {
      // Answers nothing: only the client going away ends a request.
      server = createServer((req, res) => res.on('close', () => (closed += 1)));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });

    it('aborts a request waiting for headers, closing its connection', async () => {
      const cancel = new ClientCancel();
      const pending = request(url, {
        method: 'POST',
        body: 'x',
        signal: cancel as unknown as AbortSignal,
      });
      await new Promise((r) => setTimeout(r, 50));
      cancel.abort();
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      for (let i = 0; i < 100 && closed === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(closed).toBe(1);
    });

    it('refuses to start a request whose client is already gone', async () => {
      const cancel = new ClientCancel();
      cancel.abort();
      await expect(
        request(url, { method: 'POST', body: 'x', signal: cancel as unknown as AbortSignal }),
      ).rejects.toMatchObject({ name: 'AbortError' });
    });
  });
});
