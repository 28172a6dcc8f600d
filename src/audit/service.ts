import type { Database, TenantTx } from '../platform/db/database.js';
import { InvalidInput } from '../platform/http/errors.js';
import {
  actorOf,
  type OperatorPrincipal,
  type Principal,
  type RequestMeta,
} from '../platform/http/principal.js';
import {
  GENESIS_HASH,
  canonicalJson,
  canonicalTime,
  hashEvent,
  storableJson,
  storableText,
  type ChainedFields,
} from './chain.js';
import { checkpointSignatureValid } from './checkpoint.js';
import { canonicalAction, storedNamesFor, type AuditAction } from './actions.js';
import {
  existingPseudonym,
  openIp,
  pseudonymKeys,
  pseudonymise,
  reveal,
  revealMap,
} from './pseudonym-store.js';
import {
  chainHead,
  chainPage,
  insertEvent,
  latestCheckpoint,
  listEvents,
  lockChain,
  type AuditRow,
  type ChainRow,
} from './store.js';

export type { AuditAction } from './actions.js';

export type ActorType = 'user' | 'api_key' | 'operator' | 'anonymous' | 'system';
export type Outcome = 'success' | 'failure' | 'denied';

export interface AuditEventInput {
  actor: { type: ActorType; id: string | null };
  action: AuditAction;
  target?: { type: string; id: string | null } | undefined;
  outcome: Outcome;
  ip?: string | null | undefined;
  requestId?: string | null | undefined;
  details?: Record<string, unknown> | undefined;
}

export interface AuditEvent {
  id: string;
  seq: number;
  occurredAt: string;
  actor: { type: string; id: string | null };
  /** The canonical name (see actions.ts); `storedAction` is the name as written and hashed. */
  action: string;
  storedAction: string;
  target: { type: string; id: string | null } | null;
  outcome: string;
  ip: string | null;
  requestId: string | null;
  details: unknown;
  hash: string;
  prevHash: string;
}

/** The reserved tenant whose chain holds events no tenant can be named for (an unknown credential). */
export const SYSTEM_TENANT_ID = '00000000-0000-0000-0000-000000000000';

/**
 * The event most changes write: `principal` did `action` on `target`, and it succeeded, from the
 * request `meta` came in on. Appended in `tx`, the change's own transaction.
 */
export function auditSuccess(
  tx: TenantTx,
  principal: Principal | OperatorPrincipal,
  meta: RequestMeta,
  action: AuditAction,
  target: { type: string; id: string | null } | undefined,
  details?: Record<string, unknown>,
): Promise<{ id: string; seq: number; hash: string }> {
  return appendAuditEvent(tx, {
    actor: actorOf(principal),
    action,
    target,
    outcome: 'success',
    ip: meta.ip,
    requestId: meta.requestId,
    details,
  });
}

/**
 * Appends an event to the tenant's hash chain inside the caller's transaction, so the event
 * commits or rolls back with the action it records. A per-tenant transaction lock serialises
 * writers: the head is read only after the lock is held, and under READ COMMITTED that read
 * takes a fresh snapshot, so it sees the event the previous holder committed. The unique
 * (tenant_id, seq) and (tenant_id, prev_hash) constraints make a fork impossible even if that
 * lock were bypassed (the second writer's transaction fails instead). The lock is held until
 * the caller's transaction ends: append last, or keep the rest of the transaction short.
 */
export async function appendAuditEvent(
  tx: TenantTx,
  input: AuditEventInput,
): Promise<{ id: string; seq: number; hash: string }> {
  await lockChain(tx);
  const head = await chainHead(tx);
  // Round-trip through JSON and make every string storable, so the hashed value is exactly
  // what jsonb stores and returns (no undefined, Dates as strings, no NUL or lone surrogate).
  const details = storableJson(JSON.parse(JSON.stringify(input.details ?? {})));
  const text = (v: string | null | undefined): string | null =>
    v == null ? null : storableText(v);
  // People are stored as per-person pseudonyms (decision 019): erasure shreds their keys and the
  // chain, hashed over what is stored, stays verifiable.
  const named = await pseudonymise(
    tx,
    { type: input.actor.type, id: text(input.actor.id) },
    input.target ? { type: input.target.type, id: text(input.target.id) } : undefined,
    details,
    text(input.ip),
  );
  const fields: ChainedFields = {
    tenantId: tx.tenantId,
    seq: (head?.seq ?? 0) + 1,
    occurredAt: canonicalTime(new Date()),
    actorType: input.actor.type,
    actorId: text(named.actorId),
    action: storableText(input.action),
    targetType: text(input.target?.type),
    targetId: text(named.targetId),
    outcome: input.outcome,
    ip: named.ip,
    requestId: text(input.requestId),
    details: named.details,
    prevHash: head?.hash ?? GENESIS_HASH,
  };
  const hash = hashEvent(fields);
  const id = await insertEvent(tx, {
    tenant_id: fields.tenantId,
    seq: fields.seq,
    occurred_at: fields.occurredAt,
    actor_type: fields.actorType,
    actor_id: fields.actorId,
    action: fields.action,
    target_type: fields.targetType,
    target_id: fields.targetId,
    outcome: fields.outcome,
    ip: fields.ip,
    request_id: fields.requestId,
    details: canonicalJson(fields.details),
    prev_hash: fields.prevHash,
    hash,
  });
  return { id, seq: fields.seq, hash };
}

function fieldsOf(row: ChainRow): ChainedFields {
  return {
    tenantId: row.tenant_id,
    seq: Number(row.seq),
    // The stored value at full precision, rendered by the database (see canonicalTime).
    occurredAt: row.occurred_at_canonical,
    actorType: row.actor_type,
    actorId: row.actor_id,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    outcome: row.outcome,
    ip: row.ip,
    requestId: row.request_id,
    details: typeof row.details === 'string' ? (JSON.parse(row.details) as unknown) : row.details,
    prevHash: row.prev_hash,
  };
}

/**
 * What is wrong with one stored event read in chain order (expected seq, previous hash), or
 * undefined when it links and its hash matches its contents. Retention checks each event it is
 * about to prune with this, so a tampered event is reported rather than pruned away.
 */
export function chainRowProblem(
  row: ChainRow,
  expectedSeq: number,
  prevHash: string,
): string | undefined {
  const f = fieldsOf(row);
  if (f.seq !== expectedSeq)
    return `expected seq ${expectedSeq}, found ${f.seq} (an event is missing)`;
  if (f.prevHash !== prevHash) return 'prev_hash does not match the previous event';
  if (hashEvent(f) !== row.hash)
    return 'hash does not match the event contents (the event was altered)';
  return undefined;
}

/**
 * An event as read: pseudonyms of people not erased replaced by their user id or e-mail address
 * (hash and prevHash stay those of the stored, pseudonymised event).
 */
export function revealEvent(e: AuditEvent, names: ReadonlyMap<string, string>): AuditEvent {
  return {
    ...e,
    actor: reveal(e.actor, names),
    target: reveal(e.target, names),
    details: reveal(e.details, names),
  };
}

export function toAuditEvent(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    seq: Number(row.seq),
    occurredAt: new Date(row.occurred_at).toISOString(),
    actor: { type: row.actor_type, id: row.actor_id },
    action: canonicalAction(row.action),
    storedAction: row.action,
    target: row.target_type ? { type: row.target_type, id: row.target_id } : null,
    outcome: row.outcome,
    ip: row.ip,
    requestId: row.request_id,
    details: row.details,
    hash: row.hash,
    prevHash: row.prev_hash,
  };
}

export type ChainVerdict =
  | { ok: true; events: number; head: string; checkpoint?: CheckpointStart }
  | {
      ok: false;
      events: number;
      brokenAt: { seq: number; id: string; reason: string };
      checkpoint?: CheckpointStart;
    }
  | {
      ok: false;
      events: number;
      head: string;
      missingHead: ExpectedHead;
      checkpoint?: CheckpointStart;
    };

/** Where a pruned chain starts: the signed checkpoint of the last pruned event. */
export interface CheckpointStart {
  seq: number;
  hash: string;
}

/** A head published earlier (`hash`, or `seq:hash`) that the chain must still contain. */
export interface ExpectedHead {
  seq?: number | undefined;
  hash: string;
}

/** An expected head as text: a chain head hash (64 hex digits), optionally as `seq:hash`. */
export function parseExpectedHead(text: string): ExpectedHead | undefined {
  const m = /^(?:(\d{1,18}):)?([0-9a-f]{64})$/i.exec(text.trim());
  if (!m?.[2]) return undefined;
  return { seq: m[1] === undefined ? undefined : Number(m[1]), hash: m[2].toLowerCase() };
}

/**
 * Recomputes a tenant's chain and reports the first event that does not match. A chain pruned
 * by retention starts after its newest signed checkpoint (the seq and hash of the last pruned
 * event): the checkpoint's signature is checked with the server secret, and the first kept
 * event must link to it, so moving, editing or deleting the checkpoint shows as a break just as
 * editing an event does. With `expect`, an intact chain must also contain that earlier head: a
 * chain whose newest events were deleted is intact but no longer reaches it.
 */
export async function verifyChain(
  db: Database,
  tenantId: string,
  expect?: ExpectedHead,
  opts: { serverSecret?: string | undefined } = {},
): Promise<ChainVerdict> {
  const ctx = { tenantId, userId: null, groups: [] };
  let prevHash = GENESIS_HASH;
  let expectedSeq = 1;
  let checked = 0;
  let reached = expect === undefined;
  const cp = await db.withTenant(ctx, (tx) => latestCheckpoint(tx));
  const checkpoint = cp ? { seq: cp.seq, hash: cp.hash } : undefined;
  if (cp) {
    const bad = (reason: string): ChainVerdict => ({
      ok: false,
      events: 0,
      brokenAt: { seq: cp.seq, id: 'checkpoint', reason },
      checkpoint,
    });
    if (opts.serverSecret === undefined)
      return bad('the chain was pruned: its checkpoint needs the server secret to verify');
    if (
      !checkpointSignatureValid(opts.serverSecret, { tenantId, seq: cp.seq, hash: cp.hash }, cp.sig)
    )
      return bad('the pruning checkpoint’s signature does not verify (the checkpoint was altered)');
    prevHash = cp.hash;
    expectedSeq = cp.seq + 1;
    if (expect && expect.hash === cp.hash && (expect.seq === undefined || expect.seq === cp.seq))
      reached = true;
  }
  for (;;) {
    const page = await db.withTenant(ctx, (tx) => chainPage(tx, expectedSeq - 1, 1000));
    if (page.length === 0) {
      if (!reached && expect)
        return { ok: false, events: checked, head: prevHash, missingHead: expect, checkpoint };
      return { ok: true, events: checked, head: prevHash, checkpoint };
    }
    for (const row of page) {
      const f = fieldsOf(row);
      const broken = (reason: string): ChainVerdict => ({
        ok: false,
        events: checked,
        brokenAt: { seq: f.seq, id: row.id, reason },
        checkpoint,
      });
      if (f.seq !== expectedSeq)
        return broken(`expected seq ${expectedSeq}, found ${f.seq} (an event is missing)`);
      if (f.prevHash !== prevHash)
        return broken(
          cp && f.seq === cp.seq + 1
            ? 'prev_hash does not match the pruning checkpoint (an event or the checkpoint was replaced)'
            : 'prev_hash does not match the previous event (an event was removed or replaced)',
        );
      if (hashEvent(f) !== row.hash)
        return broken('hash does not match the event contents (the event was altered)');
      if (expect && row.hash === expect.hash && (expect.seq === undefined || expect.seq === f.seq))
        reached = true;
      prevHash = row.hash;
      expectedSeq += 1;
      checked += 1;
    }
  }
}

export interface ListAuditQuery {
  from?: Date | undefined;
  to?: Date | undefined;
  actorId?: string | undefined;
  actorType?: string | undefined;
  action?: string | undefined;
  cursor?: string | undefined;
  limit: number;
}

/** A page of the caller's tenant's events, newest first, with an opaque cursor for the next page. */
export async function listAuditEvents(
  db: Database,
  principal: Principal,
  q: ListAuditQuery,
): Promise<{ data: AuditEvent[]; nextCursor: string | null }> {
  const beforeSeq = q.cursor ? decodeCursor(q.cursor) : undefined;
  const { rows, names } = await db.withTenant(principal, async (tx) => {
    // Stored events name people by pseudonym: filter by the one the asked-for user has.
    const actorId =
      q.actorId === undefined
        ? undefined
        : ((await existingPseudonym(tx, 'user', q.actorId)) ?? q.actorId);
    const rows = await listEvents(tx, {
      ...q,
      actorId,
      actions: q.action === undefined ? undefined : storedNamesFor(q.action),
      beforeSeq,
      limit: q.limit + 1,
    });
    const names = await revealMap(
      tx,
      rows.map((r) => [r.actor_id, r.target_id, r.details]),
    );
    const keys = await pseudonymKeys(
      tx,
      rows.flatMap((r) => (r.actor_id && r.ip ? [r.actor_id] : [])),
    );
    return {
      rows: rows.map((r) => ({ ...r, ip: openIp(r.ip, keys.get(r.actor_id ?? '')) })),
      names,
    };
  });
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    data: page.map((row) => revealEvent(toAuditEvent(row), names)),
    nextCursor: rows.length > q.limit && last ? encodeCursor(Number(last.seq)) : null,
  };
}

function encodeCursor(seq: number): string {
  return Buffer.from(`seq:${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const m = /^seq:(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw new InvalidCursor();
  return Number(m[1]);
}

class InvalidCursor extends InvalidInput {
  constructor() {
    super('query.cursor: not a cursor returned by this API', {
      errors: [{ field: 'query.cursor', message: 'invalid cursor' }],
    });
  }
}

/** The answer of `GET /v1/audit/verify`: a chain verdict in one flat shape. */
export interface ChainReport {
  status: 'intact' | 'broken' | 'truncated';
  ok: boolean;
  events: number;
  head: string | null;
  brokenAt: { seq: number; id: string; reason: string } | null;
  missingHead: { seq: number | null; hash: string } | null;
  verifiedAt: string;
}

/**
 * Verifies the caller's own tenant's chain (the same recomputation as `rampart audit verify`),
 * optionally against a head published earlier. Reads only; appends nothing to the chain.
 */
export async function verifyTenantChain(
  db: Database,
  principal: Principal,
  expectHead?: string,
): Promise<ChainReport> {
  const expect = expectHead === undefined ? undefined : parseExpectedHead(expectHead);
  if (expectHead !== undefined && !expect)
    throw new InvalidInput('query.expectHead: a chain head hash (64 hex digits) or seq:hash', {
      errors: [{ field: 'query.expectHead', message: 'not a chain head' }],
    });
  const v = await verifyChain(db, principal.tenantId, expect);
  const verifiedAt = new Date().toISOString();
  if (v.ok)
    return {
      status: 'intact',
      ok: true,
      events: v.events,
      head: v.head,
      brokenAt: null,
      missingHead: null,
      verifiedAt,
    };
  if ('missingHead' in v)
    return {
      status: 'truncated',
      ok: false,
      events: v.events,
      head: v.head,
      brokenAt: null,
      missingHead: { seq: v.missingHead.seq ?? null, hash: v.missingHead.hash },
      verifiedAt,
    };
  return {
    status: 'broken',
    ok: false,
    events: v.events,
    head: null,
    brokenAt: v.brokenAt,
    missingHead: null,
    verifiedAt,
  };
}
