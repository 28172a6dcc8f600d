import { appendAuditEvent } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import { NotFound } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import { listUserOAuthGrants, revokeUserOAuthGrant } from './oauth-store.js';

/** An application the person allowed at the consent page, as the console lists it. */
export interface OAuthGrantView {
  id: string;
  clientId: string;
  /** The application's own claim at registration; null when it gave none. */
  clientName: string | null;
  /** The hosts of the client's registered redirect URIs (where its codes may go). */
  redirectHosts: string[];
  grantedAt: string;
  /** When the application last exchanged a refresh token (null: not yet). Tool calls are not tracked. */
  lastRefreshedAt: string | null;
  expiresAt: string;
}

function hostOf(uri: string): string {
  try {
    return new URL(uri).host;
  } catch {
    return uri;
  }
}

/**
 * A person's own OAuth grants ("connected applications"): each live refresh-token family issued
 * to a client at the consent page, and its revocation by that person.
 */
export class OAuthGrants {
  constructor(
    private readonly db: Database,
    /** A family revoked here: this instance forgets its cached standing at once. */
    private readonly onFamilyRevoked: (familyId: string) => void,
  ) {}

  /** The caller's live grants; none for a caller that is not a person. */
  async listOwn(principal: Principal): Promise<OAuthGrantView[]> {
    const userId = principal.userId;
    if (!userId) return [];
    const rows = await this.db.withTenant(principal, (tx) => listUserOAuthGrants(tx, userId));
    return rows.map((r) => ({
      id: r.id,
      clientId: r.client_id,
      clientName: r.client_name,
      redirectHosts: [...new Set(r.redirect_uris.map(hostOf))],
      grantedAt: r.created_at.toISOString(),
      lastRefreshedAt: r.last_refreshed_at?.toISOString() ?? null,
      expiresAt: r.expires_at.toISOString(),
    }));
  }

  /** Revokes one of the caller's own grants: its access and refresh tokens stop working. */
  async revokeOwn(principal: Principal, id: string, meta: RequestMeta): Promise<void> {
    const userId = principal.userId;
    if (!userId) throw new NotFound('Connected application');
    await this.db.withTenant(principal, async (tx) => {
      const clientId = await revokeUserOAuthGrant(tx, userId, id);
      if (!clientId) throw new NotFound('Connected application');
      await appendAuditEvent(tx, {
        actor: actorOf(principal),
        action: 'oauth_grant.revoked',
        target: { type: 'token_family', id },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { clientId },
      });
    });
    this.onFamilyRevoked(id);
  }
}
