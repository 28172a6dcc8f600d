import type { TenantTx } from '../platform/db/database.js';
import { one } from '../platform/checked.js';

/** An endpoint as the API shows it (never its secrets). */
export interface EndpointRow {
  id: string;
  tenant_id: string;
  url: string;
  events: string[];
  description: string;
  enabled: boolean;
  previous_secret_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** An endpoint with its secret envelopes, for signing. */
export interface EndpointSecretRow extends EndpointRow {
  secret_envelope: Record<string, unknown>;
  previous_secret_envelope: Record<string, unknown> | null;
}

export type DeliveryState = 'pending' | 'delivered' | 'dead';

export interface DeliveryRow {
  id: string;
  tenant_id: string;
  endpoint_id: string;
  seq: string;
  event_type: string;
  body: string;
  state: DeliveryState;
  attempts: number;
  max_attempts: number | null;
  next_attempt_at: Date;
  last_status: number | null;
  last_error: string | null;
  created_at: Date;
  delivered_at: Date | null;
}

export interface AttemptRow {
  delivery_id: string;
  attempt: number;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  started_at: Date;
}

const COLUMNS = `id, tenant_id, url, events, description, enabled, previous_secret_expires_at,
  created_at, updated_at`;
const SECRET_COLUMNS = `${COLUMNS}, secret_envelope, previous_secret_envelope`;
// seq is read as text (a bigint); sort on the column, never on this alias (text order: 1, 10, 2).
const DELIVERY_COLUMNS = `id, tenant_id, endpoint_id, seq::text AS seq, event_type, body, state,
  attempts, max_attempts, next_attempt_at, last_status, last_error, created_at, delivered_at`;

export interface NewEndpoint {
  id: string;
  url: string;
  events: string[];
  description: string;
  secretEnvelope: unknown;
}

export async function insertEndpoint(tx: TenantTx, e: NewEndpoint): Promise<EndpointRow> {
  const { rows } = await tx.query<EndpointRow>(
    `INSERT INTO webhook_endpoints (id, tenant_id, url, events, description, secret_envelope)
     VALUES ($1, $2, $3, $4::text[], $5, $6::jsonb) RETURNING ${COLUMNS}`,
    [e.id, tx.tenantId, e.url, e.events, e.description, JSON.stringify(e.secretEnvelope)],
  );
  return one(rows);
}

export async function listEndpoints(tx: TenantTx): Promise<EndpointRow[]> {
  const { rows } = await tx.query<EndpointRow>(
    `SELECT ${COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY created_at, id`,
    [tx.tenantId],
  );
  return rows;
}

export async function findEndpoint(
  tx: TenantTx,
  id: string,
): Promise<EndpointSecretRow | undefined> {
  const { rows } = await tx.query<EndpointSecretRow>(
    `SELECT ${SECRET_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id],
  );
  return rows[0];
}

export interface EndpointPatch {
  url?: string | undefined;
  events?: string[] | undefined;
  description?: string | undefined;
  enabled?: boolean | undefined;
}

export async function updateEndpoint(
  tx: TenantTx,
  id: string,
  p: EndpointPatch,
): Promise<EndpointRow | undefined> {
  const { rows } = await tx.query<EndpointRow>(
    `UPDATE webhook_endpoints SET url = coalesce($3, url), events = coalesce($4::text[], events),
        description = coalesce($5, description), enabled = coalesce($6, enabled), updated_at = now()
      WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [tx.tenantId, id, p.url ?? null, p.events ?? null, p.description ?? null, p.enabled ?? null],
  );
  return rows[0];
}

/** Replaces the secret; the one it replaces keeps signing until `previousUntil` (or stops now). */
export async function rotateSecret(
  tx: TenantTx,
  id: string,
  secretEnvelope: unknown,
  previousEnvelope: unknown,
  previousUntil: Date | null,
): Promise<EndpointRow | undefined> {
  const { rows } = await tx.query<EndpointRow>(
    `UPDATE webhook_endpoints SET secret_envelope = $3::jsonb, previous_secret_envelope = $4::jsonb,
        previous_secret_expires_at = $5, updated_at = now()
      WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [
      tx.tenantId,
      id,
      JSON.stringify(secretEnvelope),
      previousUntil ? JSON.stringify(previousEnvelope) : null,
      previousUntil,
    ],
  );
  return rows[0];
}

export async function deleteEndpoint(tx: TenantTx, id: string): Promise<boolean> {
  const { rows } = await tx.query<{ id: string }>(
    `DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 RETURNING id`,
    [tx.tenantId, id],
  );
  return rows.length > 0;
}

/**
 * Takes the next sequence number of every enabled endpoint of the tenant subscribed to
 * `eventType` (or of the one endpoint given), locking those rows until the caller commits.
 */
export async function takeSequences(
  tx: TenantTx,
  eventType: string,
  endpointId?: string,
): Promise<{ id: string; seq: string }[]> {
  const { rows } = await tx.query<{ id: string; seq: string }>(
    // Locked in id order, so two events of one tenant committing at once cannot deadlock.
    `WITH target AS (
       SELECT id FROM webhook_endpoints
        WHERE tenant_id = $1 AND (($3::uuid IS NULL AND enabled AND $2 = ANY (events)) OR id = $3::uuid)
        ORDER BY id FOR UPDATE)
     UPDATE webhook_endpoints e SET last_seq = e.last_seq + 1 FROM target
      WHERE e.tenant_id = $1 AND e.id = target.id
      RETURNING e.id, e.last_seq::text AS seq`,
    [tx.tenantId, eventType, endpointId ?? null],
  );
  return rows;
}

export async function insertDelivery(
  tx: TenantTx,
  d: { id: string; endpointId: string; seq: string; eventType: string; body: string },
): Promise<DeliveryRow> {
  const { rows } = await tx.query<DeliveryRow>(
    `INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, seq, event_type, body)
     VALUES ($1, $2, $3, $4::bigint, $5, $6) RETURNING ${DELIVERY_COLUMNS}`,
    [d.id, tx.tenantId, d.endpointId, d.seq, d.eventType, d.body],
  );
  return one(rows);
}

/** Takes the endpoint's drain lease when nobody holds a live one; false when somebody does. */
export async function acquireLease(
  tx: TenantTx,
  id: string,
  token: string,
  ms: number,
): Promise<boolean> {
  const { rows } = await tx.query<{ id: string }>(
    `UPDATE webhook_endpoints SET lease_token = $3,
        lease_until = now() + make_interval(secs => $4::int / 1000.0)
      WHERE tenant_id = $1 AND id = $2 AND enabled
        AND (lease_until IS NULL OR lease_until < now() OR lease_token = $3)
      RETURNING id`,
    [tx.tenantId, id, token, ms],
  );
  return rows.length > 0;
}

export async function releaseLease(tx: TenantTx, id: string, token: string): Promise<void> {
  await tx.query(
    `UPDATE webhook_endpoints SET lease_token = NULL, lease_until = NULL
      WHERE tenant_id = $1 AND id = $2 AND lease_token = $3`,
    [tx.tenantId, id, token],
  );
}

/** The oldest undelivered delivery of an endpoint (the one that must go first), and whether it is due. */
export async function headDelivery(
  tx: TenantTx,
  endpointId: string,
): Promise<{ row: DeliveryRow; due: boolean } | undefined> {
  const { rows } = await tx.query<DeliveryRow & { due: boolean }>(
    `SELECT ${DELIVERY_COLUMNS}, next_attempt_at <= now() AS due FROM webhook_deliveries
      WHERE tenant_id = $1 AND endpoint_id = $2 AND state = 'pending' ORDER BY webhook_deliveries.seq LIMIT 1`,
    [tx.tenantId, endpointId],
  );
  const r = rows[0];
  if (!r) return undefined;
  const { due, ...row } = r;
  return { row, due };
}

export interface AttemptRecord {
  attempt: number;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  startedAt: Date;
}

/** Records an attempt and the delivery's new state (retryInMs: when to try again, if pending). */
export async function recordAttempt(
  tx: TenantTx,
  deliveryId: string,
  a: AttemptRecord,
  outcome: { state: DeliveryState; retryInMs: number },
): Promise<DeliveryRow> {
  await tx.query(
    `INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, status_code, duration_ms, error, started_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [tx.tenantId, deliveryId, a.attempt, a.statusCode, a.durationMs, a.error, a.startedAt],
  );
  const { rows } = await tx.query<DeliveryRow>(
    `UPDATE webhook_deliveries SET attempts = $3, state = $4, last_status = $5, last_error = $6,
        next_attempt_at = now() + make_interval(secs => $7::bigint / 1000.0),
        delivered_at = CASE WHEN $4 = 'delivered' THEN now() ELSE delivered_at END
      WHERE tenant_id = $1 AND id = $2 RETURNING ${DELIVERY_COLUMNS}`,
    [tx.tenantId, deliveryId, a.attempt, outcome.state, a.statusCode, a.error, outcome.retryInMs],
  );
  return one(rows);
}

/** Makes a dead delivery pending again for one more attempt, due now. */
export async function reviveDelivery(
  tx: TenantTx,
  endpointId: string,
  id: string,
): Promise<DeliveryRow | undefined> {
  const { rows } = await tx.query<DeliveryRow>(
    `UPDATE webhook_deliveries SET state = 'pending', max_attempts = attempts + 1, next_attempt_at = now()
      WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3 AND state = 'dead'
      RETURNING ${DELIVERY_COLUMNS}`,
    [tx.tenantId, endpointId, id],
  );
  return rows[0];
}

export async function findDelivery(
  tx: TenantTx,
  endpointId: string,
  id: string,
): Promise<DeliveryRow | undefined> {
  const { rows } = await tx.query<DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3`,
    [tx.tenantId, endpointId, id],
  );
  return rows[0];
}

/** The endpoint's deliveries, newest first, with their attempts. */
export async function listDeliveries(
  tx: TenantTx,
  endpointId: string,
  opts: { state?: DeliveryState | undefined; limit: number },
): Promise<{ deliveries: DeliveryRow[]; attempts: AttemptRow[] }> {
  const { rows } = await tx.query<DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
      WHERE tenant_id = $1 AND endpoint_id = $2 AND ($3::text IS NULL OR state = $3)
      ORDER BY webhook_deliveries.seq DESC LIMIT $4`,
    [tx.tenantId, endpointId, opts.state ?? null, opts.limit],
  );
  const attempts = await tx.query<AttemptRow>(
    `SELECT delivery_id, attempt, status_code, duration_ms, error, started_at FROM webhook_attempts
      WHERE tenant_id = $1 AND delivery_id = ANY ($2::uuid[]) ORDER BY delivery_id, attempt`,
    [tx.tenantId, rows.map((r) => r.id)],
  );
  return { deliveries: rows, attempts: attempts.rows };
}
