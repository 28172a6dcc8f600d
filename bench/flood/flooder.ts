/**
 * The attacker of bench:flood: `--connections` keep-alive connections sending GET requests with
 * credentials no tenant holds, as fast as the answers come, for `--duration-ms`, then prints
 * `FLOOD {json}` (answers by status, requests per second) and exits. Three requests in four
 * carry a made-up key; the fourth a made-up secret behind a real key's `--prefix`, which an
 * in-memory prefix check alone cannot refuse. Targets 127.0.0.1 only. Run in its own process so
 * its work does not share the event loop that measures the valid tenant.
 *
 *   node --import tsx bench/flood/flooder.ts --url http://127.0.0.1:PORT --prefix rmp_xxxxxxxx
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    path: { type: 'string', default: '/v1/me' },
    prefix: { type: 'string', default: 'rmp_' },
    connections: { type: 'string', default: '32' },
    'duration-ms': { type: 'string', default: '10000' },
  },
});
const url = new URL(args.url ?? '');
if (url.hostname !== '127.0.0.1') throw new Error('the flooder targets 127.0.0.1 only');
const connections = Math.min(256, Math.max(1, Number(args.connections)));
const durationMs = Math.min(600_000, Math.max(100, Number(args['duration-ms'])));
const prefix = args.prefix ?? 'rmp_';

const pool = new Pool(url.origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
const statuses = new Map<number, number>();
let failures = 0;
let sent = 0;
const end = Date.now() + durationMs;

const badKey = (): string => {
  sent++;
  const rest = randomBytes(32).toString('base64url');
  return sent % 4 === 0 ? prefix + rest.slice(0, 47 - prefix.length) : `rmp_${rest}`;
};

const attacker = async (): Promise<void> => {
  while (Date.now() < end) {
    try {
      const res = await pool.request({
        method: 'GET',
        path: args.path ?? '/v1/me',
        headers: { authorization: `Bearer ${badKey()}` },
      });
      await res.body.dump();
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    } catch {
      failures++;
    }
  }
};

process.stdout.write(`FLOODING ${url.port}\n`);
const started = Date.now();
await Promise.all(Array.from({ length: connections }, attacker));
const seconds = (Date.now() - started) / 1000;
await pool.close();
const total = [...statuses.values()].reduce((a, b) => a + b, 0);
process.stdout.write(
  `FLOOD ${JSON.stringify({ statuses: Object.fromEntries(statuses), failures, perSecond: total / seconds })}\n`,
);
