import { describe, expect, it } from 'vitest';
import { isLoopbackAddress, metricsRefusal } from './metrics-access.js';

const local = { remoteAddress: '127.0.0.1', localAddress: '127.0.0.1' };

describe('metricsRefusal', () => {
  it('with a token, wants exactly that bearer token from any address', () => {
    const token = 'scrape-token-123';
    const from = { remoteAddress: '203.0.113.7', localAddress: '10.0.0.2' };
    expect(metricsRefusal(token, { headers: {}, socket: local })).toBe('metrics_token_required');
    expect(
      metricsRefusal(token, {
        headers: { authorization: 'Bearer scrape-token-124' },
        socket: from,
      }),
    ).toBe('metrics_token_required');
    expect(
      metricsRefusal(token, { headers: { authorization: `Bearer ${token}` }, socket: from }),
    ).toBeUndefined();
  });

  it('without a token, answers only a connection whose both ends are loopback, and nothing forwarded', () => {
    const ok = (socket: { remoteAddress?: string; localAddress?: string }, headers = {}) =>
      metricsRefusal(undefined, { headers, socket });
    expect(ok(local)).toBeUndefined();
    expect(ok({ remoteAddress: '::1', localAddress: '::1' })).toBeUndefined();
    expect(
      ok({ remoteAddress: '::ffff:127.0.0.1', localAddress: '::ffff:127.0.0.1' }),
    ).toBeUndefined();
    // A network client, on any interface.
    expect(ok({ remoteAddress: '203.0.113.7', localAddress: '10.0.0.2' })).toBe(
      'metrics_loopback_only',
    );
    expect(ok({ remoteAddress: '10.0.0.9', localAddress: '127.0.0.1' })).toBe(
      'metrics_loopback_only',
    );
    // A sidecar proxy reaching the pod address from 127.0.0.6 (Istio) relays the network.
    expect(ok({ remoteAddress: '127.0.0.6', localAddress: '10.0.0.2' })).toBe(
      'metrics_loopback_only',
    );
    // A reverse proxy on the same host that names the client it relays for.
    for (const h of ['forwarded', 'x-forwarded-for', 'x-real-ip'])
      expect(ok(local, { [h]: '203.0.113.7' })).toBe('metrics_loopback_only');
    // No address at all (a Unix socket, a closed connection): refused.
    expect(ok({})).toBe('metrics_loopback_only');
  });

  it('recognises loopback addresses only', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'])
      expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of [
      '0.0.0.0',
      '10.0.0.1',
      '::',
      '::ffff:10.0.0.1',
      '127',
      '1127.0.0.1',
      'localhost',
      undefined,
    ])
      expect(isLoopbackAddress(a), String(a)).toBe(false);
  });
});
