import { createHash, randomBytes } from 'node:crypto';
import {
  checkResourceAllowed,
  type AuthorizationServerMetadata,
} from '@modelcontextprotocol/client';
import { z } from 'zod';
import { appendAuditEvent, type AuditAction, type Outcome } from '../../audit/service.js';
import type { Database, TenantTx } from '../../platform/db/database.js';
import {
  AppError,
  Conflict,
  InvalidInput,
  NotFound,
  ServiceUnavailable,
} from '../../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../../platform/http/principal.js';
import type { GuardedFetch } from '../../platform/net/guarded-fetch.js';
import type { Keyring } from '../../platform/secrets/envelope.js';
import {
  deleteConnection,
  getConnection,
  insertFlow,
  saveRefreshedTokens,
  takeFlow,
  upsertConnection,
  type ConnectionTokens,
  type UserConnectionRow,
} from './connections-store.js';
import { authMeta, oauthClientOf, sealClientSecret } from './credentials.js';
import {
  authorizationRequest,
  discoverAuthorization,
  redeemCode,
  refreshTokens,
  registerOAuthClient,
  type OAuthClient,
  type Tokens,
} from './oauth.js';
import type { ConnectBody, ConnectionView, OAuthCallbackQuery } from './schemas.js';
import { getServer, saveOAuthClient, type McpServerSecretRow } from './servers-store.js';

/** The auth type of a per-user server. */
export const PER_USER = 'oauth-authorization-code';
/** The callback every per-user server's authorization server redirects to. */
export const CALLBACK_PATH = '/v1/mcp-servers/oauth/callback';
const FLOW_TTL_SECONDS = 600;
/** An access token this close to its expiry is refreshed before use. */
const EXPIRY_SKEW_MS = 30_000;

// How an envelope is kept in a jsonb column: its binary fields as base64.
const StoredEnvelope = z.object({
  keyId: z.string(),
  wrappedKey: z.string(),
  iv: z.string(),
  ciphertext: z.string(),
  tag: z.string(),
});
const StoredTokens = z.object({ accessToken: z.string(), refreshToken: z.string().optional() });
// What is kept of the authorization server's metadata (checked again when read back).
const AsMetadata = z.looseObject({
  issuer: z.string(),
  authorization_endpoint: z.string(),
  token_endpoint: z.string(),
  response_types_supported: z.array(z.string()),
  code_challenge_methods_supported: z.array(z.string()).optional(),
  token_endpoint_auth_methods_supported: z.array(z.string()).optional(),
  authorization_response_iss_parameter_supported: z.boolean().optional(),
});

// Bound to tenant, server and user: copied to another row, a ciphertext does not decrypt.
const context = (kind: string, tenantId: string, serverId: string, userId: string): string =>
  `mcp-${kind}:${tenantId}:${serverId}:${userId}`;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * Per-user connections to external MCP servers: each person connects their own account at the
 * server's authorization server, and a run calls the server with its caller's own token (never
 * Rampart's, never a login token). Tokens and PKCE verifiers are envelope-encrypted, and RLS shows
 * each row only to its own user.
 */
export class UserConnections {
  constructor(
    private readonly db: Database,
    private readonly keyring: Keyring | undefined,
    private readonly opts: { fetch: GuardedFetch; redirectUri: string },
  ) {}

  /** Starts an authorization: the URL to send the person to (state and PKCE kept for the callback). */
  async connect(
    p: Principal,
    serverId: string,
    body: ConnectBody,
    meta: RequestMeta,
  ): Promise<{ authorizationUrl: string; expiresAt: string }> {
    const userId = userOf(p);
    const row = await this.#perUserServer(p, serverId);
    const target = await discoverAuthorization(row.url, this.opts.fetch);
    const issuer = target.metadata.issuer;
    let client: OAuthClient | undefined = oauthClientOf(this.keyring, row);
    // A registered client belongs to the issuer it was registered at; a configured one is kept.
    const registeredElsewhere =
      authMeta(row).registeredAt !== undefined && authMeta(row).registeredAt !== issuer;
    if (!client || registeredElsewhere) {
      if (!target.metadata.registration_endpoint)
        throw new Conflict(
          `The authorization server ${issuer} offers no client registration: set auth.clientId (and clientSecret) on the MCP server.`,
          'mcp_oauth_client_required',
        );
      const registered = await registerOAuthClient(target, this.opts.redirectUri, this.opts.fetch);
      await this.db.withTenant(p, async (tx) => {
        const { scope } = authMeta(row);
        await saveOAuthClient(
          tx,
          row.id,
          { clientId: registered.clientId, registeredAt: issuer, ...(scope ? { scope } : {}) },
          sealClientSecret(this.keyring, tx.tenantId, row.id, registered.clientSecret),
        );
        await audit(tx, p, meta, 'mcp_server.client_registered', row.id, 'success', { issuer });
      });
      client = registered;
    }
    const state = randomBytes(32).toString('base64url');
    const scope = body.scope ?? authMeta(row).scope ?? target.scope;
    const request = await authorizationRequest(target, client, {
      redirectUri: this.opts.redirectUri,
      state,
      scope,
    });
    const expiresAt = await this.db.withTenant(p, async (tx) => {
      const at = await insertFlow(tx, {
        serverId: row.id,
        userId,
        stateHash: sha256(state),
        verifierEnvelope: this.#seal('pkce', tx.tenantId, row.id, userId, request.codeVerifier),
        clientId: client.clientId,
        redirectUri: this.opts.redirectUri,
        resource: target.resource,
        scope,
        asMetadata: target.metadata,
        ttlSeconds: FLOW_TTL_SECONDS,
      });
      await audit(tx, p, meta, 'mcp_connection.started', row.id, 'success', {
        issuer,
        resource: target.resource,
      });
      return at;
    });
    return { authorizationUrl: request.url, expiresAt: expiresAt.toISOString() };
  }

  /**
   * The authorization server's redirect back, in the browser of the person who started it: the
   * state must be theirs (RLS) and live, `iss` must be the server's issuer (RFC 9207), and the
   * code is redeemed with the PKCE verifier and the same resource.
   */
  async complete(p: Principal, q: OAuthCallbackQuery, meta: RequestMeta): Promise<ConnectionView> {
    const userId = userOf(p);
    // Committed before anything else: a state is used once, whatever happens next.
    const flow = await this.db.withTenant(p, (tx) => takeFlow(tx, sha256(q.state)));
    if (!flow)
      throw new AppError(
        400,
        'mcp_oauth_state_invalid',
        'This authorization is unknown, expired, already used or not yours; connect again.',
      );
    const refuse = async (
      code: string,
      message: string,
      details: Record<string, unknown>,
      status = 400,
    ) => {
      await this.db.withTenant(p, (tx) =>
        audit(tx, p, meta, 'mcp_connection.refused', flow.server_id, 'failure', {
          reason: code,
          ...details,
        }),
      );
      return new AppError(status, code, message);
    };
    if (q.error)
      throw await refuse(
        'mcp_oauth_denied',
        `The authorization server answered ${q.error}${q.error_description ? `: ${q.error_description}` : ''}.`,
        { error: q.error },
      );
    if (!q.code) throw new InvalidInput('The callback has no code.');
    const row = await this.db.withTenant(p, (tx) => getServer(tx, flow.server_id));
    if (!row) throw new NotFound('MCP server');
    const client = oauthClientOf(this.keyring, row);
    if (client?.clientId !== flow.client_id)
      throw await refuse(
        'mcp_oauth_client_changed',
        "The MCP server's OAuth client changed during the authorization; connect again.",
        {},
      );
    const metadata = parseMetadata(flow.as_metadata);
    let tokens: Tokens;
    try {
      tokens = await redeemCode(
        { metadata, resource: flow.resource },
        client,
        {
          code: q.code,
          iss: q.iss,
          codeVerifier: this.#open(
            'pkce',
            flow.tenant_id,
            flow.server_id,
            userId,
            flow.verifier_envelope,
          ),
          redirectUri: flow.redirect_uri,
        },
        this.opts.fetch,
      );
    } catch (err) {
      if (err instanceof AppError)
        throw await refuse(
          err.code,
          err.message,
          { issuer: metadata.issuer, iss: q.iss ?? null },
          err.status,
        );
      throw err;
    }
    return this.db.withTenant(p, async (tx) => {
      const conn = await upsertConnection(tx, {
        serverId: row.id,
        userId,
        clientId: client.clientId,
        resource: flow.resource,
        asMetadata: metadata,
        ...this.#sealTokens(tx.tenantId, row.id, userId, tokens),
      });
      await audit(tx, p, meta, 'mcp_connection.connected', row.id, 'success', {
        issuer: metadata.issuer,
        scope: tokens.scope ?? null,
      });
      return view(row, conn);
    });
  }

  async get(p: Principal, serverId: string): Promise<ConnectionView> {
    const userId = userOf(p);
    return this.db.withTenant(p, async (tx) => {
      const row = await getServer(tx, serverId);
      if (!row) throw new NotFound('MCP server');
      const conn = await getConnection(tx, serverId, userId);
      if (!conn) throw new NotFound('Connection');
      return view(row, conn);
    });
  }

  /** Forgets the caller's tokens for the server (they connect again to use it). */
  async disconnect(p: Principal, serverId: string, meta: RequestMeta): Promise<void> {
    const userId = userOf(p);
    await this.db.withTenant(p, async (tx) => {
      if (!(await getServer(tx, serverId))) throw new NotFound('MCP server');
      if (!(await deleteConnection(tx, serverId, userId))) throw new NotFound('Connection');
      await audit(tx, p, meta, 'mcp_connection.deleted', serverId, 'success', {});
    });
  }

  /**
   * The caller's own access token for a per-user server, refreshed first when it has expired.
   * The row stays locked during a refresh so two calls never both spend one refresh token (a
   * server rotating them would revoke the connection); the wait is bounded by the fetch timeout.
   */
  async accessToken(p: Principal, row: McpServerSecretRow): Promise<string> {
    const connectHint = `POST /v1/mcp-servers/${row.id}/connect`;
    if (!p.userId)
      throw new AppError(
        403,
        'mcp_connection_required',
        `MCP server '${row.name}' uses each person's own account, and this run's caller is not a person (an API key without a user).`,
      );
    const userId = p.userId;
    return this.db.withTenant(p, async (tx) => {
      const conn = await getConnection(tx, row.id, userId, { lock: true });
      if (!conn)
        throw new AppError(
          403,
          'mcp_connection_required',
          `You have not connected your account to MCP server '${row.name}': connect it (${connectHint}) and try again.`,
        );
      const client = oauthClientOf(this.keyring, row);
      if (
        client?.clientId !== conn.client_id ||
        !checkResourceAllowed({ requestedResource: row.url, configuredResource: conn.resource })
      )
        throw new AppError(
          403,
          'mcp_connection_required',
          `MCP server '${row.name}' changed its address or OAuth client since you connected: connect again (${connectHint}).`,
        );
      const tokens = StoredTokens.parse(
        JSON.parse(this.#open('tokens', tx.tenantId, row.id, userId, conn.token_envelope)),
      );
      const expired =
        conn.access_expires_at !== null &&
        conn.access_expires_at.getTime() - EXPIRY_SKEW_MS <= Date.now();
      if (!expired) return tokens.accessToken;
      if (!tokens.refreshToken)
        throw new AppError(
          403,
          'mcp_connection_expired',
          `Your connection to MCP server '${row.name}' has expired: connect again (${connectHint}).`,
        );
      let fresh: Tokens;
      try {
        fresh = await refreshTokens(
          { metadata: parseMetadata(conn.as_metadata), resource: conn.resource },
          client,
          tokens.refreshToken,
          this.opts.fetch,
        );
      } catch (err) {
        throw new AppError(
          403,
          'mcp_connection_expired',
          `Your connection to MCP server '${row.name}' could not be renewed (${err instanceof Error ? err.message : 'error'}): connect again (${connectHint}).`,
        );
      }
      await saveRefreshedTokens(
        tx,
        conn.id,
        this.#sealTokens(tx.tenantId, row.id, userId, {
          ...fresh,
          refreshToken: fresh.refreshToken ?? tokens.refreshToken,
        }),
      );
      return fresh.accessToken;
    });
  }

  async #perUserServer(p: Principal, id: string): Promise<McpServerSecretRow> {
    const row = await this.db.withTenant(p, (tx) => getServer(tx, id));
    if (!row) throw new NotFound('MCP server');
    if (row.auth_type !== PER_USER)
      throw new Conflict(
        `MCP server '${row.name}' is not per-user (auth type ${row.auth_type}): it uses the credential stored for it.`,
        'mcp_server_not_per_user',
      );
    return row;
  }

  #ring(): Keyring {
    if (!this.keyring)
      throw new ServiceUnavailable(
        'No master key is configured (RAMPART_MASTER_KEY): per-user MCP connections cannot be stored.',
        'master_key_missing',
      );
    return this.keyring;
  }

  #seal(kind: string, tenantId: string, serverId: string, userId: string, secret: string) {
    const e = this.#ring().encrypt(secret, context(kind, tenantId, serverId, userId));
    return {
      keyId: e.keyId,
      wrappedKey: e.wrappedKey.toString('base64'),
      iv: e.iv.toString('base64'),
      ciphertext: e.ciphertext.toString('base64'),
      tag: e.tag.toString('base64'),
    };
  }

  #open(kind: string, tenantId: string, serverId: string, userId: string, stored: unknown): string {
    const s = StoredEnvelope.parse(stored);
    return this.#ring().decrypt(
      {
        keyId: s.keyId,
        wrappedKey: Buffer.from(s.wrappedKey, 'base64'),
        iv: Buffer.from(s.iv, 'base64'),
        ciphertext: Buffer.from(s.ciphertext, 'base64'),
        tag: Buffer.from(s.tag, 'base64'),
      },
      context(kind, tenantId, serverId, userId),
    );
  }

  #sealTokens(tenantId: string, serverId: string, userId: string, t: Tokens): ConnectionTokens {
    const stored: z.infer<typeof StoredTokens> = {
      accessToken: t.accessToken,
      ...(t.refreshToken ? { refreshToken: t.refreshToken } : {}),
    };
    return {
      tokenEnvelope: this.#seal('tokens', tenantId, serverId, userId, JSON.stringify(stored)),
      accessExpiresAt: t.expiresIn !== undefined ? new Date(Date.now() + t.expiresIn * 1000) : null,
      hasRefreshToken: t.refreshToken !== undefined,
      scope: t.scope,
    };
  }
}

function userOf(p: Principal): string {
  if (!p.userId)
    throw new AppError(
      403,
      'user_required',
      'Per-user MCP connections belong to a person: sign in (an API key without a user cannot connect).',
    );
  return p.userId;
}

function parseMetadata(v: unknown): AuthorizationServerMetadata {
  return AsMetadata.parse(v);
}

function view(row: McpServerSecretRow, c: UserConnectionRow): ConnectionView {
  return {
    serverId: row.id,
    server: row.name,
    connected: true,
    scope: c.scope,
    accessExpiresAt: c.access_expires_at?.toISOString() ?? null,
    hasRefreshToken: c.has_refresh_token,
    connectedAt: c.connected_at.toISOString(),
    refreshedAt: c.refreshed_at?.toISOString() ?? null,
  };
}

async function audit(
  tx: TenantTx,
  principal: Principal,
  meta: RequestMeta,
  action: AuditAction,
  serverId: string,
  outcome: Outcome,
  details: Record<string, unknown>,
): Promise<void> {
  await appendAuditEvent(tx, {
    actor: actorOf(principal),
    action,
    target: { type: 'mcp_server', id: serverId },
    outcome,
    ip: meta.ip,
    requestId: meta.requestId,
    details,
  });
}
