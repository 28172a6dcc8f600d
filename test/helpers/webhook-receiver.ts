import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got, and what it answered. */
export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** The status answered, or 'hang' when the request was never answered. */
  answer: number | 'hang';
}

/**
 * A webhook receiver on 127.0.0.1: records each request and answers what `plan` says for the
 * n-th request (1-based): a status code, or 'hang' to never answer.
 */
export interface Receiver {
  url: string;
  requests: Received[];
  plan: (n: number, req: Received) => number | 'hang';
  /** Requests answered 2xx, in the order they arrived. */
  accepted(): Received[];
  close(): Promise<void>;
}

export async function startReceiver(
  plan: (n: number, req: Received) => number | 'hang' = () => 200,
): Promise<Receiver> {
  const hanging: ServerResponse[] = [];
  const header = (req: IncomingMessage, name: string): string => {
    const v = req.headers[name];
    return typeof v === 'string' ? v : '';
  };
  const requests: Received[] = [];
  let current = plan;
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const got: Received = {
        id: header(req, 'webhook-id'),
        timestamp: header(req, 'webhook-timestamp'),
        signature: header(req, 'webhook-signature'),
        body: Buffer.concat(parts).toString('utf8'),
        answer: 200,
      };
      got.answer = current(requests.length + 1, got);
      requests.push(got);
      if (got.answer === 'hang') {
        hanging.push(res);
        return;
      }
      res.writeHead(got.answer, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  const receiver: Receiver = {
    url: '',
    requests,
    get plan() {
      return current;
    },
    set plan(p) {
      current = p;
    },
    accepted: () => requests.filter((r) => typeof r.answer === 'number' && r.answer < 300),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'base64'));
}

/**
 * An independent implementation of Standard Webhooks verification (WebCrypto's HMAC, not the
 * code under test): true when one `v1,` entry of the signature header is the HMAC-SHA256 of
 * `id.timestamp.body` under the secret, and the timestamp is within the tolerance.
 */
export async function verifyStandardWebhook(
  secret: string,
  r: Pick<Received, 'id' | 'timestamp' | 'signature' | 'body'>,
  toleranceSeconds = 300,
): Promise<boolean> {
  if (!secret.startsWith('whsec_') || !r.id || !/^\d+$/.test(r.timestamp)) return false;
  if (Math.abs(Date.now() / 1000 - Number(r.timestamp)) > toleranceSeconds) return false;
  const key = await crypto.subtle.importKey(
    'raw',
    fromBase64(secret.slice('whsec_'.length)),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['verify'],
  );
  const signed = new TextEncoder().encode(`${r.id}.${r.timestamp}.${r.body}`);
  for (const entry of r.signature.split(' ')) {
    const [version, mac] = entry.split(',');
    if (version !== 'v1' || !mac) continue;
    if (await crypto.subtle.verify('HMAC', key, fromBase64(mac), signed)) return true;
  }
  return false;
}
