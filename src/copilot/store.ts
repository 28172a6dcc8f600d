import type { TenantTx } from '../platform/db/database.js';
import type { Envelope } from '../platform/secrets/envelope.js';

/** Agents and HTTP actions (tools): the definitions an admin writes. */

/** A JSON value read from a nullable jsonb column (null is the column's own null). */
export type Json = object | string | number | boolean;

export interface AgentRow {
  id: string;
  name: string;
  instructions: string;
  model: string;
  tools: unknown;
  max_steps: number;
  budget_usd: string | null;
  output_schema: Json | null;
  created_at: Date;
  updated_at: Date;
}

const AGENT_COLS = `id, name, instructions, model, tools, max_steps, budget_usd, output_schema, created_at, updated_at`;

export interface AgentFields {
  name: string;
  instructions: string;
  model: string;
  tools: unknown[];
  maxSteps: number;
  budgetUsd: number | null;
  outputSchema: Record<string, unknown> | null;
}

export async function insertAgent(tx: TenantTx, a: AgentFields): Promise<AgentRow | undefined> {
  const { rows } = await tx.query<AgentRow>(
    `INSERT INTO agents (tenant_id, name, instructions, model, tools, max_steps, budget_usd, output_schema)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8::jsonb)
     ON CONFLICT (tenant_id, name) DO NOTHING RETURNING ${AGENT_COLS}`,
    [
      tx.tenantId,
      a.name,
      a.instructions,
      a.model,
      JSON.stringify(a.tools),
      a.maxSteps,
      a.budgetUsd,
      a.outputSchema === null ? null : JSON.stringify(a.outputSchema),
    ],
  );
  return rows[0];
}

export async function updateAgent(tx: TenantTx, id: string, a: AgentFields): Promise<AgentRow> {
  const { rows } = await tx.query<AgentRow>(
    `UPDATE agents SET name = $3, instructions = $4, model = $5, tools = $6::jsonb, max_steps = $7,
            budget_usd = $8, output_schema = $9::jsonb, updated_at = now()
      WHERE tenant_id = $1 AND id = $2 RETURNING ${AGENT_COLS}`,
    [
      tx.tenantId,
      id,
      a.name,
      a.instructions,
      a.model,
      JSON.stringify(a.tools),
      a.maxSteps,
      a.budgetUsd,
      a.outputSchema === null ? null : JSON.stringify(a.outputSchema),
    ],
  );
  const row = rows[0];
  if (!row) throw new Error('agent vanished during update');
  return row;
}

export async function getAgent(tx: TenantTx, id: string): Promise<AgentRow | undefined> {
  const { rows } = await tx.query<AgentRow>(
    `SELECT ${AGENT_COLS} FROM agents WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id],
  );
  return rows[0];
}

export async function listAgents(tx: TenantTx): Promise<AgentRow[]> {
  const { rows } = await tx.query<AgentRow>(
    `SELECT ${AGENT_COLS} FROM agents WHERE tenant_id = $1 ORDER BY name LIMIT 1000`,
    [tx.tenantId],
  );
  return rows;
}

export async function deleteAgent(tx: TenantTx, id: string): Promise<boolean> {
  const r = await tx.query(`DELETE FROM agents WHERE tenant_id = $1 AND id = $2`, [
    tx.tenantId,
    id,
  ]);
  return r.rowCount > 0;
}

export interface ToolRow {
  id: string;
  name: string;
  description: string;
  parameters: unknown;
  request: unknown;
  side_effect: boolean;
  compensate: Json | null;
  timeout_ms: number;
  retries: number;
  permission: string | null;
  credential_key_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A tool row with its credential envelope (the runner's read; never returned by a route). */
export interface ToolSecretRow extends ToolRow {
  credential_wrapped_key: Uint8Array | null;
  credential_iv: Uint8Array | null;
  credential_ciphertext: Uint8Array | null;
  credential_tag: Uint8Array | null;
}

const TOOL_COLS = `id, name, description, parameters, request, side_effect, compensate, timeout_ms, retries, permission, credential_key_id, created_at, updated_at`;
const SECRET_COLS = `${TOOL_COLS}, credential_wrapped_key, credential_iv, credential_ciphertext, credential_tag`;

export interface ToolFields {
  description: string;
  parameters: Record<string, unknown>;
  request: unknown;
  sideEffect: boolean;
  compensate: unknown;
  timeoutMs: number;
  retries: number;
  permission: string | null;
}

const envelopeParams = (e: Envelope | null) => [
  e?.keyId ?? null,
  e?.wrappedKey ?? null,
  e?.iv ?? null,
  e?.ciphertext ?? null,
  e?.tag ?? null,
];

export async function insertTool(
  tx: TenantTx,
  id: string,
  name: string,
  t: ToolFields,
  credential: Envelope | null,
): Promise<ToolRow | undefined> {
  const { rows } = await tx.query<ToolRow>(
    `INSERT INTO tools (id, tenant_id, name, description, parameters, request, side_effect, compensate,
                        timeout_ms, retries, permission, credential_key_id, credential_wrapped_key,
                        credential_iv, credential_ciphertext, credential_tag)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8::jsonb, $9, $10, $11, $12, $13, $14, $15, $16)
     ON CONFLICT (tenant_id, name) DO NOTHING RETURNING ${TOOL_COLS}`,
    [
      id,
      tx.tenantId,
      name,
      t.description,
      JSON.stringify(t.parameters),
      JSON.stringify(t.request),
      t.sideEffect,
      t.compensate === null ? null : JSON.stringify(t.compensate),
      t.timeoutMs,
      t.retries,
      t.permission,
      ...envelopeParams(credential),
    ],
  );
  return rows[0];
}

/** Updates a tool; `credential` undefined keeps the stored one, null removes it. */
export async function updateTool(
  tx: TenantTx,
  id: string,
  t: ToolFields,
  credential: Envelope | null | undefined,
): Promise<ToolRow> {
  const keep = credential === undefined;
  const { rows } = await tx.query<ToolRow>(
    `UPDATE tools SET description = $3, parameters = $4::jsonb, request = $5::jsonb, side_effect = $6,
            compensate = $7::jsonb, timeout_ms = $8, retries = $9, permission = $10,
            credential_key_id = CASE WHEN $11 THEN credential_key_id ELSE $12 END,
            credential_wrapped_key = CASE WHEN $11 THEN credential_wrapped_key ELSE $13 END,
            credential_iv = CASE WHEN $11 THEN credential_iv ELSE $14 END,
            credential_ciphertext = CASE WHEN $11 THEN credential_ciphertext ELSE $15 END,
            credential_tag = CASE WHEN $11 THEN credential_tag ELSE $16 END,
            updated_at = now()
      WHERE tenant_id = $1 AND id = $2 RETURNING ${TOOL_COLS}`,
    [
      tx.tenantId,
      id,
      t.description,
      JSON.stringify(t.parameters),
      JSON.stringify(t.request),
      t.sideEffect,
      t.compensate === null ? null : JSON.stringify(t.compensate),
      t.timeoutMs,
      t.retries,
      t.permission,
      keep,
      ...envelopeParams(credential ?? null),
    ],
  );
  const row = rows[0];
  if (!row) throw new Error('tool vanished during update');
  return row;
}

export async function getTool(tx: TenantTx, id: string): Promise<ToolRow | undefined> {
  const { rows } = await tx.query<ToolRow>(
    `SELECT ${TOOL_COLS} FROM tools WHERE tenant_id = $1 AND id = $2`,
    [tx.tenantId, id],
  );
  return rows[0];
}

export async function toolsByName(
  tx: TenantTx,
  names: readonly string[],
): Promise<ToolSecretRow[]> {
  const { rows } = await tx.query<ToolSecretRow>(
    `SELECT ${SECRET_COLS} FROM tools WHERE tenant_id = $1 AND name = ANY($2::text[])`,
    [tx.tenantId, names],
  );
  return rows;
}

export async function listTools(tx: TenantTx): Promise<ToolRow[]> {
  const { rows } = await tx.query<ToolRow>(
    `SELECT ${TOOL_COLS} FROM tools WHERE tenant_id = $1 ORDER BY name LIMIT 1000`,
    [tx.tenantId],
  );
  return rows;
}

export async function deleteTool(tx: TenantTx, id: string): Promise<string | undefined> {
  const { rows } = await tx.query<{ name: string }>(
    `DELETE FROM tools WHERE tenant_id = $1 AND id = $2 RETURNING name`,
    [tx.tenantId, id],
  );
  return rows[0]?.name;
}
