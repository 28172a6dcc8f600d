import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the action server received. */
export interface Delivery {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export type ActionAnswer = { status: number; body?: unknown } | 'hang';

/**
 * A real local HTTP server standing in for a tenant's systems (orders, refunds…): it records
 * every delivery and answers with what `respond` returns ('hang' never answers, to hold a call
 * in flight while a worker is killed).
 */
export interface ActionServer {
  baseUrl: string;
  deliveries: Delivery[];
  respond: (d: Delivery, n: number) => ActionAnswer;
  /** Deliveries to a path (method and path, e.g. 'POST /orders'). */
  to(route: string): Delivery[];
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  const text = Buffer.concat(parts).toString('utf8');
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export async function startActionServer(): Promise<ActionServer> {
  const deliveries: Delivery[] = [];
  const state = {
    deliveries,
    respond: ((d: Delivery) => ({
      status: 200,
      body: { ok: true, path: d.path },
    })) as ActionServer['respond'],
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void readBody(req).then((body) => {
      const d: Delivery = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
      };
      deliveries.push(d);
      const answer = state.respond(d, deliveries.length);
      if (answer === 'hang') return;
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body ?? null));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    baseUrl: `http://127.0.0.1:${port}`,
    to: (route: string) =>
      deliveries.filter((d) => `${d.method} ${d.path.split('?')[0]}` === route),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
