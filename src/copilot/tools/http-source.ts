import type { TenantTx } from '../../platform/db/database.js';
import { isPermission } from '../../platform/http/permissions-catalogue.js';
import type { Keyring } from '../../platform/secrets/envelope.js';
import { decryptCredential } from '../credentials.js';
import { CompensateRequest, ToolRequest } from '../schemas.js';
import { toolsByName, type ToolSecretRow } from '../store.js';
import type { HttpActions } from './http-action.js';
import type { ResolvedTool, ToolSource } from './registry.js';

/** The tenant's HTTP actions (POST /v1/tools), read from its rows under RLS. */
export function httpActionSource(actions: HttpActions, keyring: Keyring | undefined): ToolSource {
  return {
    kind: 'http',
    builtins: [],
    async resolve(tx: TenantTx, names: readonly string[]): Promise<ResolvedTool[]> {
      const rows = await toolsByName(tx, names);
      return rows.map((row) => httpAction(actions, keyring, tx.tenantId, row));
    },
  };
}

function httpAction(
  actions: HttpActions,
  keyring: Keyring | undefined,
  tenantId: string,
  row: ToolSecretRow,
): ResolvedTool {
  const request = ToolRequest.parse(row.request);
  const compensate = row.compensate === null ? null : CompensateRequest.parse(row.compensate);
  const credential = (): string | undefined =>
    row.credential_key_id === null ? undefined : decryptCredential(keyring, tenantId, row);
  const common = {
    breakerKey: `${tenantId}:${row.name}`,
    timeoutMs: row.timeout_ms,
    retries: row.retries,
  };
  const parameters =
    row.parameters !== null && typeof row.parameters === 'object'
      ? (row.parameters as Record<string, unknown>)
      : {};
  const tool: ResolvedTool = {
    name: row.name,
    description: row.description,
    parameters,
    sideEffect: row.side_effect,
    permission: row.permission !== null && isPermission(row.permission) ? row.permission : null,
    call: ({ args, idempotencyKey }) =>
      actions.call({
        ...common,
        request,
        vars: args,
        idempotencyKey,
        credential: credential(),
        defaultBody: args,
      }),
  };
  if (compensate)
    tool.compensate = ({ args, result, idempotencyKey }) =>
      actions.call({
        ...common,
        // A compensation is retried at least twice: leaving a side effect in place is worse.
        retries: Math.max(2, row.retries),
        request: compensate,
        vars: { ...args, result },
        idempotencyKey,
        credential: credential(),
        defaultBody: undefined,
      });
  return tool;
}
