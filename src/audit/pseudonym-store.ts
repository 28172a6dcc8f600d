import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type { Queryable } from '../platform/db/types.js';

/**
 * Per-person audit pseudonyms (decision 019). An audit event never stores a user id or an e-mail
 * address: it stores `psn:<22 chars>`, an HMAC of the identifier under a random key of that
 * person's own (audit_subject_keys). Reads map pseudonyms back; erasure deletes the person's keys
 * (crypto-shredding), so the stored events — and the hash chain over them — never change, and
 * nothing left can tell whom a pseudonym stood for.
 */

export type SubjectKind = 'user' | 'email';

/** Matches a stored pseudonym (22 base64url characters: 16 bytes of HMAC). */
export const PSEUDONYM = /psn:[A-Za-z0-9_-]{22}/g;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Detail keys whose uuid value names a person (the rest of details is searched for e-mails). */
const PERSON_KEYS = new Set(['userid', 'user_id', 'transferto', 'subjectuserid', 'memberid']);

interface Tx extends Queryable {
  tenantId: string;
}

function subjectKey(kind: SubjectKind, subject: string): string {
  return `${kind}\u0000${subject}`;
}

/** The subjects an event names: the acting user, a user target, person keys and e-mails in details. */
function collect(
  actor: { type: string; id: string | null },
  target: { type: string; id: string | null } | undefined,
  details: unknown,
): Map<string, { kind: SubjectKind; subject: string }> {
  const found = new Map<string, { kind: SubjectKind; subject: string }>();
  const add = (kind: SubjectKind, raw: string): void => {
    const subject = raw.toLowerCase();
    found.set(subjectKey(kind, subject), { kind, subject });
  };
  if (actor.type === 'user' && actor.id) add('user', actor.id);
  if (target?.type === 'user' && target.id) add('user', target.id);
  const walk = (v: unknown, key: string | undefined): void => {
    if (typeof v === 'string') {
      if (key && PERSON_KEYS.has(key.toLowerCase()) && UUID.test(v)) add('user', v);
      for (const m of v.matchAll(EMAIL)) add('email', m[0]);
    } else if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (v !== null && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(details, undefined);
  return found;
}

/** The pseudonyms of these subjects in tx's tenant, creating a key for each one not seen before. */
async function pseudonymsFor(
  tx: Tx,
  subjects: Map<string, { kind: SubjectKind; subject: string }>,
): Promise<Map<string, { pseudonym: string; key: Buffer }>> {
  const out = new Map<string, { pseudonym: string; key: Buffer }>();
  if (subjects.size === 0) return out;
  const list = [...subjects.values()];
  const read = async (): Promise<void> => {
    const { rows } = await tx.query<{
      kind: SubjectKind;
      subject: string;
      pseudonym: string;
      key: Buffer;
    }>(
      `SELECT kind, subject, pseudonym, key FROM audit_subject_keys
        WHERE tenant_id = $1 AND (kind, subject) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
      [tx.tenantId, list.map((s) => s.kind), list.map((s) => s.subject)],
    );
    for (const r of rows)
      out.set(subjectKey(r.kind, r.subject), { pseudonym: r.pseudonym, key: Buffer.from(r.key) });
  };
  await read();
  const missing = list.filter((s) => !out.has(subjectKey(s.kind, s.subject)));
  for (const s of missing) {
    const key = randomBytes(32);
    const pseudonym = `psn:${createHmac('sha256', key)
      .update(`${s.kind}:${s.subject}`)
      .digest()
      .subarray(0, 16)
      .toString('base64url')}`;
    await tx.query(
      `INSERT INTO audit_subject_keys (tenant_id, kind, subject, pseudonym, key)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, kind, subject) DO NOTHING`,
      [tx.tenantId, s.kind, s.subject, pseudonym, key],
    );
  }
  if (missing.length) await read();
  return out;
}

/**
 * An event's actor, target and details with every person it names replaced by a pseudonym, and
 * the network address of an acting user sealed (AES-256-GCM) under that user's key: readable
 * while the person is known, noise once erasure destroys the key.
 */
export async function pseudonymise<D>(
  tx: Tx,
  actor: { type: string; id: string | null },
  target: { type: string; id: string | null } | undefined,
  details: D,
  ip: string | null = null,
): Promise<{ actorId: string | null; targetId: string | null; details: D; ip: string | null }> {
  const subjects = collect(actor, target, details);
  const map = await pseudonymsFor(tx, subjects);
  const of = (kind: SubjectKind, v: string): string =>
    map.get(subjectKey(kind, v.toLowerCase()))?.pseudonym ?? v;
  const walk = (v: unknown, key: string | undefined): unknown => {
    if (typeof v === 'string') {
      if (key && PERSON_KEYS.has(key.toLowerCase()) && UUID.test(v)) return of('user', v);
      return v.replace(EMAIL, (m) => of('email', m));
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, key));
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  const actorKey =
    actor.type === 'user' && actor.id
      ? map.get(subjectKey('user', actor.id.toLowerCase()))
      : undefined;
  return {
    actorId: actor.type === 'user' && actor.id ? of('user', actor.id) : actor.id,
    targetId: target?.type === 'user' && target.id ? of('user', target.id) : (target?.id ?? null),
    details: walk(details, undefined) as D,
    ip: ip !== null && actorKey ? sealIp(actorKey.key, ip) : ip,
  };
}

const SEALED = /^sealed:([A-Za-z0-9_-]+)$/;

function sealIp(key: Buffer, ip: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([c.update(ip, 'utf8'), c.final()]);
  return `sealed:${Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64url')}`;
}

/** A stored address opened with its actor's key; a sealed one whose key is gone stays sealed. */
export function openIp(stored: string | null, key: Buffer | undefined): string | null {
  const m = stored ? SEALED.exec(stored) : null;
  if (!m?.[1] || !key) return stored;
  try {
    const raw = Buffer.from(m[1], 'base64url');
    const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
  } catch {
    return stored;
  }
}

/** The keys of these pseudonyms (to open sealed addresses), for those not erased. */
export async function pseudonymKeys(tx: Tx, pseudonyms: string[]): Promise<Map<string, Buffer>> {
  const wanted = pseudonyms.filter((p) => p.startsWith('psn:'));
  if (wanted.length === 0) return new Map();
  const { rows } = await tx.query<{ pseudonym: string; key: Buffer }>(
    `SELECT pseudonym, key FROM audit_subject_keys WHERE tenant_id = $1 AND pseudonym = ANY($2::text[])`,
    [tx.tenantId, wanted],
  );
  return new Map(rows.map((r) => [r.pseudonym, Buffer.from(r.key)]));
}

/** The pseudonym a user id or e-mail address has in tx's tenant, if any (read only). */
export async function existingPseudonym(
  tx: Tx,
  kind: SubjectKind,
  subject: string,
): Promise<string | undefined> {
  const { rows } = await tx.query<{ pseudonym: string }>(
    `SELECT pseudonym FROM audit_subject_keys WHERE tenant_id = $1 AND kind = $2 AND subject = $3`,
    [tx.tenantId, kind, subject.toLowerCase()],
  );
  return rows[0]?.pseudonym;
}

/** pseudonym → the identifier it stands for, for the pseudonyms found in these values. */
export async function revealMap(tx: Tx, values: unknown[]): Promise<Map<string, string>> {
  const found = new Set<string>();
  for (const v of values)
    for (const m of JSON.stringify(v ?? null).matchAll(PSEUDONYM)) found.add(m[0]);
  if (found.size === 0) return new Map();
  const { rows } = await tx.query<{ pseudonym: string; subject: string }>(
    `SELECT pseudonym, subject FROM audit_subject_keys WHERE tenant_id = $1 AND pseudonym = ANY($2::text[])`,
    [tx.tenantId, [...found]],
  );
  return new Map(rows.map((r) => [r.pseudonym, r.subject]));
}

/** A value with every pseudonym the map knows replaced by what it stands for (erased ones stay). */
export function reveal<T>(value: T, map: ReadonlyMap<string, string>): T {
  if (map.size === 0) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(PSEUDONYM, (p) => map.get(p) ?? p);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/** Destroys the keys of a person (their user id and e-mail): their pseudonyms become unlinkable. */
export async function shredSubject(tx: Tx, userId: string, email: string | null): Promise<number> {
  const { rowCount } = await tx.query(
    `DELETE FROM audit_subject_keys WHERE tenant_id = $1
        AND ((kind = 'user' AND subject = $2) OR (kind = 'email' AND subject = $3))`,
    [tx.tenantId, userId.toLowerCase(), (email ?? '').toLowerCase()],
  );
  return rowCount;
}
