import { createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { SYSTEM_TENANT_ID, appendAuditEvent } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { AppError, RateLimited } from '../platform/http/errors.js';
import type { RequestMeta } from '../platform/http/principal.js';
import type { AuthThrottle } from './auth-throttle.js';
import { sameSecret } from './session-cookies.js';
import { findOAuthClient, insertOAuthClient, type OAuthClientRow } from './oauth-store.js';

/** An OAuth error (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 8707): its code is the `error` sent. */
export class OAuthError extends AppError {
  constructor(
    code:
      | 'invalid_request'
      | 'invalid_client'
      | 'invalid_grant'
      | 'unauthorized_client'
      | 'unsupported_grant_type'
      | 'invalid_scope'
      | 'invalid_target'
      | 'invalid_redirect_uri'
      | 'invalid_client_metadata',
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(code === 'invalid_client' ? 401 : 400, code, message, {}, headers);
  }
}

export const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'] as const;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const PRINTABLE = /^[^\p{Cc}]*$/u;

/**
 * Why a redirect URI is refused, or undefined when it is acceptable: https anywhere, or http on
 * a loopback address with any port (RFC 8252 §7.3); no fragment (RFC 6749 §3.1.2), no userinfo.
 */
export function redirectUriProblem(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `${uri} is not an absolute URI.`;
  }
  if (url.hash || uri.includes('#')) return 'A redirect URI has no fragment.';
  if (url.username || url.password) return 'A redirect URI carries no user information.';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return undefined;
  return 'A redirect URI is https, or http on a loopback address (127.0.0.1, [::1] or localhost).';
}

const RegistrationBody = z.object({
  redirect_uris: z.array(z.string().min(1).max(2000)).min(1).max(10),
  token_endpoint_auth_method: z.enum(AUTH_METHODS).default('client_secret_basic'),
  grant_types: z
    .array(z.enum(['authorization_code', 'refresh_token']))
    .max(2)
    .default(['authorization_code']),
  response_types: z.array(z.literal('code')).max(1).default(['code']),
  client_name: z.string().min(1).max(200).regex(PRINTABLE).optional(),
  client_uri: z.string().url().max(2000).optional(),
  scope: z.string().max(500).regex(PRINTABLE).optional(),
});

/** What POST /oauth/register answers (RFC 7591 §3.2.1); the secret is in this answer only. */
export interface RegisteredClient {
  client_id: string;
  client_id_issued_at: number;
  client_secret?: string;
  client_secret_expires_at?: number;
  redirect_uris: string[];
  token_endpoint_auth_method: string;
  grant_types: string[];
  response_types: string[];
  client_name?: string;
  client_uri?: string;
  scope?: string;
}

/**
 * OAuth clients of Rampart's authorization server: dynamic registration (RFC 7591), rate-limited
 * per client address and audited in the platform's own chain (clients belong to no tenant), and
 * client authentication at the token and revocation endpoints.
 */
export class OAuthClients {
  constructor(
    private readonly db: Database,
    private readonly serverSecret: string,
    private readonly throttle: AuthThrottle,
    /** The pre-authentication budget (AuthService.preAuth): nobody is authenticated here yet. */
    private readonly preAuth: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {}

  #hash(secret: string): Buffer {
    return createHmac('sha256', this.serverSecret).update(`oauth-client:${secret}`).digest();
  }

  /** Registers a client from its metadata (unknown fields are ignored, as RFC 7591 says). */
  async register(body: unknown, meta: RequestMeta): Promise<RegisteredClient> {
    const wait = this.throttle.retryAfter(meta.ip, undefined);
    if (wait)
      throw new RateLimited('Too many client registrations from this address.', wait.seconds);
    await this.throttle.recordFailure(meta.ip, undefined);
    const parsed = RegistrationBody.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.join('.') ?? '';
      throw new OAuthError(
        field.startsWith('redirect_uris') ? 'invalid_redirect_uri' : 'invalid_client_metadata',
        `${field || 'body'}: ${issue?.message ?? 'is invalid'}`,
      );
    }
    const m = parsed.data;
    for (const uri of m.redirect_uris) {
      const problem = redirectUriProblem(uri);
      if (problem) throw new OAuthError('invalid_redirect_uri', problem);
    }
    const id = `rmc_${randomBytes(16).toString('base64url')}`;
    const secret =
      m.token_endpoint_auth_method === 'none'
        ? undefined
        : `rmcs_${randomBytes(32).toString('base64url')}`;
    const row = await this.preAuth(() =>
      this.db.withOperator((tx) =>
        insertOAuthClient(tx, {
          id,
          secretHash: secret === undefined ? null : this.#hash(secret),
          authMethod: m.token_endpoint_auth_method,
          clientName: m.client_name ?? null,
          clientUri: m.client_uri ?? null,
          redirectUris: [...new Set(m.redirect_uris)],
          scope: m.scope ?? null,
        }),
      ),
    );
    await this.db.withTenant({ tenantId: SYSTEM_TENANT_ID, userId: null, groups: [] }, (tx) =>
      appendAuditEvent(tx, {
        actor: { type: 'anonymous', id: null },
        action: 'oauth_client.registered',
        target: { type: 'oauth_client', id },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: {
          clientName: m.client_name ?? null,
          authMethod: m.token_endpoint_auth_method,
          redirectHosts: [...new Set(m.redirect_uris.map((u) => new URL(u).host))],
        },
      }),
    );
    return {
      client_id: row.id,
      client_id_issued_at: Math.floor(row.created_at.getTime() / 1000),
      ...(secret === undefined ? {} : { client_secret: secret, client_secret_expires_at: 0 }),
      redirect_uris: row.redirect_uris,
      token_endpoint_auth_method: row.auth_method,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      ...(row.client_name ? { client_name: row.client_name } : {}),
      ...(row.client_uri ? { client_uri: row.client_uri } : {}),
      ...(row.scope ? { scope: row.scope } : {}),
    };
  }

  /** A registered client by id (authorization requests name it before anyone is authenticated). */
  async find(clientId: string): Promise<OAuthClientRow | undefined> {
    if (!/^rmc_[A-Za-z0-9_-]{22}$/.test(clientId)) return undefined;
    return this.preAuth(() => this.db.withOperator((tx) => findOAuthClient(tx, clientId)));
  }

  /**
   * Authenticates the client of a token or revocation request (RFC 6749 §2.3): HTTP Basic or
   * client_secret in the form for a confidential client, client_id alone for a public one.
   */
  async authenticate(
    authorization: string | undefined,
    form: Record<string, string>,
  ): Promise<OAuthClientRow> {
    let id = form.client_id;
    let secret = form.client_secret;
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '')?.[1];
    const challenge = basic ? { 'www-authenticate': 'Basic realm="rampart"' } : undefined;
    if (basic) {
      if (secret !== undefined)
        throw new OAuthError('invalid_request', 'Use one client authentication method, not two.');
      const decoded = Buffer.from(basic, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      try {
        const basicId = decodeURIComponent(decoded.slice(0, colon < 0 ? undefined : colon));
        if (id !== undefined && id !== basicId)
          throw new OAuthError('invalid_request', 'client_id differs from the Basic credentials.');
        id = basicId;
        secret = colon < 0 ? '' : decodeURIComponent(decoded.slice(colon + 1));
      } catch (err) {
        if (err instanceof OAuthError) throw err;
        throw new OAuthError('invalid_client', 'Malformed Basic credentials.', challenge);
      }
    }
    const client = id === undefined ? undefined : await this.find(id);
    if (!client) throw new OAuthError('invalid_client', 'Unknown client.', challenge);
    if (client.secret_hash === null) {
      if (secret !== undefined)
        throw new OAuthError('invalid_client', 'A public client has no secret.', challenge);
      return client;
    }
    if (
      secret === undefined ||
      // PGlite returns bytea as a Uint8Array, pg as a Buffer.
      !sameSecret(
        this.#hash(secret).toString('hex'),
        Buffer.from(client.secret_hash).toString('hex'),
      )
    )
      throw new OAuthError('invalid_client', 'Client authentication failed.', challenge);
    return client;
  }
}
