import type { OperatorTx, TenantTx } from '../platform/db/database.js';

export interface JwtTrustRow {
  issuer: string;
  audience: string;
  jwks_uri: string;
  algorithms: string[];
  subject_claim: string;
  updated_at: Date;
}

export async function getJwtTrust(tx: TenantTx): Promise<JwtTrustRow | undefined> {
  const { rows } = await tx.query<JwtTrustRow>(
    `SELECT issuer, audience, jwks_uri, algorithms, subject_claim, updated_at
       FROM identity_jwt WHERE tenant_id = $1`,
    [tx.tenantId],
  );
  return rows[0];
}

/** Stores the tenant's trusted issuer; false when another tenant already trusts this (issuer, audience). */
export async function upsertJwtTrust(
  tx: TenantTx,
  t: Omit<JwtTrustRow, 'updated_at'>,
): Promise<boolean> {
  const taken = await tx.query(
    'SELECT 1 FROM rampart_find_jwt_issuer($1) WHERE audience = $2 AND tenant_id <> $3',
    [t.issuer, t.audience, tx.tenantId],
  );
  if (taken.rows.length > 0) return false;
  await tx.query(
    `INSERT INTO identity_jwt (tenant_id, issuer, audience, jwks_uri, algorithms, subject_claim)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (tenant_id) DO UPDATE SET issuer = excluded.issuer, audience = excluded.audience,
       jwks_uri = excluded.jwks_uri, algorithms = excluded.algorithms,
       subject_claim = excluded.subject_claim, updated_at = now()`,
    [tx.tenantId, t.issuer, t.audience, t.jwks_uri, [...t.algorithms], t.subject_claim],
  );
  return true;
}

export async function deleteJwtTrust(tx: TenantTx): Promise<boolean> {
  const { rows } = await tx.query(
    'DELETE FROM identity_jwt WHERE tenant_id = $1 RETURNING tenant_id',
    [tx.tenantId],
  );
  return rows.length === 1;
}

export interface TrustedIssuerRow {
  tenant_id: string;
  tenant_slug: string;
  issuer: string;
  audience: string;
  jwks_uri: string;
  algorithms: string[];
  subject_claim: string;
}

/** Every tenant's trust of one issuer (SECURITY DEFINER, migration 0027). */
export async function trustedIssuer(op: OperatorTx, issuer: string): Promise<TrustedIssuerRow[]> {
  const { rows } = await op.query<TrustedIssuerRow>('SELECT * FROM rampart_find_jwt_issuer($1)', [
    issuer,
  ]);
  return rows;
}

export interface JwtMemberRow {
  user_id: string;
  role: string;
  groups: string[];
}

export async function jwtMember(
  op: OperatorTx,
  tenantId: string,
  issuer: string,
  subject: string,
): Promise<JwtMemberRow | undefined> {
  const { rows } = await op.query<JwtMemberRow>('SELECT * FROM rampart_jwt_member($1, $2, $3)', [
    tenantId,
    issuer,
    subject,
  ]);
  return rows[0];
}
