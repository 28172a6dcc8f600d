import { z } from 'zod';
import { ServiceUnavailable } from '../../platform/http/errors.js';
import {
  decryptSecret,
  envelopeFromColumns,
  type Envelope,
  type Keyring,
} from '../../platform/secrets/envelope.js';
import type { Credentials, Target } from './connection.js';
import type { ServerAuth } from './schemas.js';
import type { McpServerSecretRow } from './servers-store.js';

// Binds a ciphertext to its row: copied into another tenant's or server's row it won't decrypt.
const context = (tenantId: string, id: string): string => `mcp-server:${tenantId}:${id}`;

const Secret = z.object({
  token: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  clientSecret: z.string().optional(),
});
const Meta = z.object({
  headerNames: z.array(z.string()).optional(),
  clientId: z.string().optional(),
  scope: z.string().optional(),
  /** Per-user servers: the issuer the client id was dynamically registered at. */
  registeredAt: z.string().optional(),
});
export type AuthMeta = z.infer<typeof Meta>;

function ring(keyring: Keyring | undefined): Keyring {
  if (!keyring)
    throw new ServiceUnavailable(
      'No master key is configured (RAMPART_MASTER_KEY): MCP server credentials cannot be stored or used.',
      'master_key_missing',
    );
  return keyring;
}

/** Splits an auth setting into what is stored plainly and the encrypted secret. */
export function sealAuth(
  keyring: Keyring | undefined,
  tenantId: string,
  id: string,
  auth: ServerAuth,
): { type: string; meta: AuthMeta; env: Envelope | undefined } {
  const seal = (secret: z.infer<typeof Secret>) =>
    ring(keyring).encrypt(JSON.stringify(secret), context(tenantId, id));
  switch (auth.type) {
    case 'none':
      return { type: auth.type, meta: {}, env: undefined };
    case 'bearer':
      return { type: auth.type, meta: {}, env: seal({ token: auth.token }) };
    case 'headers':
      return {
        type: auth.type,
        meta: { headerNames: Object.keys(auth.headers) },
        env: seal({ headers: auth.headers }),
      };
    case 'oauth-client-credentials':
      return {
        type: auth.type,
        meta: { clientId: auth.clientId, ...(auth.scope ? { scope: auth.scope } : {}) },
        env: seal({ clientSecret: auth.clientSecret }),
      };
    case 'oauth-authorization-code':
      return {
        type: auth.type,
        meta: {
          ...(auth.clientId ? { clientId: auth.clientId } : {}),
          ...(auth.scope ? { scope: auth.scope } : {}),
        },
        env: auth.clientSecret ? seal({ clientSecret: auth.clientSecret }) : undefined,
      };
  }
}

/** Seals a dynamically registered client's secret for its server's row. */
export function sealClientSecret(
  keyring: Keyring | undefined,
  tenantId: string,
  id: string,
  clientSecret: string | undefined,
): Envelope | undefined {
  return clientSecret === undefined
    ? undefined
    : ring(keyring).encrypt(JSON.stringify({ clientSecret }), context(tenantId, id));
}

/** A per-user server's OAuth client, as configured or registered (its secret decrypted). */
export function oauthClientOf(
  keyring: Keyring | undefined,
  row: McpServerSecretRow,
):
  | { clientId: string; clientSecret: string | undefined; registeredAt: string | undefined }
  | undefined {
  const meta = authMeta(row);
  if (!meta.clientId) return undefined;
  const env = envelopeFromColumns(row);
  const secret = env
    ? Secret.parse(JSON.parse(decryptSecret(ring(keyring), env, context(row.tenant_id, row.id))))
    : {};
  return {
    clientId: meta.clientId,
    clientSecret: secret.clientSecret,
    registeredAt: meta.registeredAt,
  };
}

/** The connection target of a per-user server with its caller's own access token. */
export function targetWithToken(row: McpServerSecretRow, accessToken: string): Target {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    credentials: { kind: 'headers', headers: { authorization: `Bearer ${accessToken}` } },
  };
}

export function authMeta(row: McpServerSecretRow): AuthMeta {
  const parsed = Meta.safeParse(row.auth_meta);
  return parsed.success ? parsed.data : {};
}

/** The connection target of a stored server, its credential decrypted for this use only. */
export function targetOf(keyring: Keyring | undefined, row: McpServerSecretRow): Target {
  const env = envelopeFromColumns(row);
  const secret = env
    ? Secret.parse(JSON.parse(decryptSecret(ring(keyring), env, context(row.tenant_id, row.id))))
    : {};
  const meta = authMeta(row);
  let credentials: Credentials = { kind: 'headers', headers: {} };
  if (row.auth_type === 'bearer' && secret.token)
    credentials = { kind: 'headers', headers: { authorization: `Bearer ${secret.token}` } };
  else if (row.auth_type === 'headers' && secret.headers)
    credentials = { kind: 'headers', headers: secret.headers };
  else if (row.auth_type === 'oauth-client-credentials' && secret.clientSecret && meta.clientId)
    credentials = {
      kind: 'oauth',
      clientId: meta.clientId,
      clientSecret: secret.clientSecret,
      scope: meta.scope,
    };
  return { id: row.id, name: row.name, url: row.url, credentials };
}
