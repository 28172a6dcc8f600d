import { reveal } from '../../src/audit/pseudonym-store.js';
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import type { TestApp } from './app.js';
import type { TestDatabase } from './db.js';

export interface Call {
  status: number;
  body: unknown;
  text: string;
  requestId: string;
  res: LightMyRequestResponse;
}

/** A thin client over app.inject that tags every request with its own request id (to find its audit events). */
export function apiClient(app: TestApp) {
  return async function call(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    key?: string,
    payload?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Call> {
    const requestId = `rid-${randomUUID()}`;
    const res = await app.app.inject({
      method,
      url,
      headers: {
        'x-request-id': requestId,
        ...(key !== undefined ? { authorization: `Bearer ${key}` } : {}),
        ...headers,
      },
      ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
    });
    const text = res.body;
    let body: unknown = undefined;
    try {
      body = text ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      body = text;
    }
    return { status: res.statusCode, body, text, requestId, res };
  };
}

export interface AuditRow {
  action: string;
  outcome: string;
  actor_type: string;
  actor_id: string | null;
  target_type: string | null;
  target_id: string | null;
  details: Record<string, unknown>;
}

/**
 * The audit events one request left in one tenant's chain, read as the owner (bypassing RLS),
 * with the people they name revealed from their pseudonyms (decision 019).
 */
export async function auditOf(
  t: TestDatabase,
  tenantId: string,
  requestId: string,
): Promise<AuditRow[]> {
  const { rows, keys } = await t.asOwner(async (q) => ({
    rows: (
      await q.query<AuditRow>(
        `SELECT action, outcome, actor_type, actor_id, target_type, target_id, details
           FROM audit_events WHERE tenant_id = $1 AND request_id = $2 ORDER BY seq`,
        [tenantId, requestId],
      )
    ).rows,
    keys: (
      await q.query<{ pseudonym: string; subject: string }>(
        `SELECT pseudonym, subject FROM audit_subject_keys WHERE tenant_id = $1`,
        [tenantId],
      )
    ).rows,
  }));
  return reveal(rows, new Map(keys.map((k) => [k.pseudonym, k.subject])));
}

/** Polls until check() is true, every 100 ms, for at most `ms`; returns whether it became true. */
export async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}
