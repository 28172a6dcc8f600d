/**
 * The bare forwarder of the gateway benchmark: Fastify + an undici Pool, no keys, no limits, no
 * ledger, no metrics — the practical floor for a Node gateway. It parses the JSON body (any
 * gateway must read `model`), re-serialises it to the upstream and relays the upstream's
 * response, SSE included, chunk by chunk. Run in its own process.
 *
 *   node --import tsx bench/gateway/forwarder.ts --upstream http://127.0.0.1:PORT
 *
 * Prints `LISTENING <port>` once it accepts connections on 127.0.0.1.
 */
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { Pool } from 'undici';

const { values: args } = parseArgs({ options: { upstream: { type: 'string' } } });
if (!args.upstream) throw new Error('--upstream is required');

// Enough sockets for the highest benchmarked concurrency; pipelining stays off, as in Rampart.
const upstream = new Pool(args.upstream, { connections: 256, keepAliveTimeout: 60_000 });
const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });

app.post('/v1/chat/completions', async (request, reply) => {
  const res = await upstream.request({
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request.body),
  });
  reply.code(res.statusCode);
  const type = res.headers['content-type'];
  if (typeof type === 'string') reply.header('content-type', type);
  // Handing Fastify the body stream relays each chunk as it arrives (no buffering of SSE).
  return reply.send(res.body);
});

await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`LISTENING ${(app.server.address() as AddressInfo).port}\n`);
process.on('SIGTERM', () => process.exit(0));
