import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import type { TestApp } from './app.js';

/** A frame the server sent on /v1/realtime. */
export interface RealtimeFrame {
  type: string;
  runId?: string;
  code?: string;
  step?: number;
  text?: string;
  event?: { seq: number; type: string; data: Record<string, unknown> };
}

/** A /v1/realtime client that records every frame and can wait for one. */
export interface RealtimeClient {
  ws: WebSocket;
  frames: RealtimeFrame[];
  closed: Promise<{ code: number; reason: string }>;
  send(msg: unknown): void;
  /** Resolves with the first frame (already received or to come) matching `pred`. */
  next(pred: (f: RealtimeFrame) => boolean): Promise<RealtimeFrame>;
  close(): void;
}

/** Starts the app on an ephemeral port (once) and answers its ws:// base. */
export async function listenWs(app: TestApp): Promise<string> {
  if (!app.app.server.listening) await app.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.app.server.address() as AddressInfo;
  return `ws://127.0.0.1:${port}`;
}

/** Opens /v1/realtime with `key`; rejects with the HTTP status when the upgrade is refused. */
export function openRealtime(
  base: string,
  key: string | undefined,
  headers: Record<string, string> = {},
): Promise<RealtimeClient> {
  const ws = new WebSocket(`${base}/v1/realtime`, {
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
  });
  const frames: RealtimeFrame[] = [];
  const waiters: { pred: (f: RealtimeFrame) => boolean; resolve: (f: RealtimeFrame) => void }[] =
    [];
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as RealtimeFrame;
    frames.push(frame);
    for (const w of [...waiters])
      if (w.pred(frame)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(frame);
      }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`HTTP ${res.statusCode}`));
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        frames,
        closed,
        send: (msg) => ws.send(JSON.stringify(msg)),
        next: (pred) => {
          const seen = frames.find(pred);
          if (seen) return Promise.resolve(seen);
          return new Promise((r) => waiters.push({ pred, resolve: r }));
        },
        close: () => ws.close(),
      }),
    );
  });
}

/** The sequence numbers of the run's events a client received, in order. */
export function seqsOf(frames: readonly RealtimeFrame[], runId: string): number[] {
  return frames
    .filter((f) => f.type === 'event' && f.runId === runId)
    .map((f) => f.event?.seq ?? -1);
}
