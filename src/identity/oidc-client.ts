import * as oidc from 'openid-client';
import {
  guardedFetch,
  reportingFailures,
  type GuardedFetch,
} from '../platform/net/guarded-fetch.js';
import { InvalidInput } from '../platform/http/errors.js';
import { nonPublicAddressOf } from '../platform/net/outbound-guard.js';
import { messageOf } from '../platform/checked.js';

/** How long a tenant's discovered provider metadata (and its JWKS cache) is reused. */
const DISCOVERY_TTL_MS = 10 * 60_000;

interface Cached {
  signature: string;
  config: oidc.Configuration;
  at: number;
}

export interface ProviderSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Changes whenever the stored configuration changes (its updated_at). */
  version: string;
}

/**
 * The relying party, by openid-client (a certified implementation): discovery, JWKS and every
 * token-endpoint call go through the outbound address guard unless OUTBOUND_ALLOW_PRIVATE_ADDRESSES,
 * which alone also permits an http:// issuer (development, tests).
 */
export class OidcClients {
  readonly #byTenant = new Map<string, Cached>();
  readonly #fetch: GuardedFetch;

  constructor(
    private readonly allowPrivate: boolean,
    /** Called for each failure to reach a provider (rampart_identity_provider_failures_total). */
    onFailure: () => void = () => undefined,
  ) {
    this.#fetch = reportingFailures(guardedFetch(allowPrivate), onFailure);
  }

  /** Refuses an issuer address the outbound guard would refuse, with a clear 400. */
  async assertIssuerAllowed(issuer: string): Promise<void> {
    const u = new URL(issuer);
    if (this.allowPrivate) return;
    if (u.protocol !== 'https:')
      throw new InvalidInput(
        'The issuer must be an https:// URL (http:// only with OUTBOUND_ALLOW_PRIVATE_ADDRESSES).',
      );
    const address = await nonPublicAddressOf(issuer);
    if (address)
      throw new InvalidInput(
        `The issuer resolves to ${address}, which is not a public address (allowed only with OUTBOUND_ALLOW_PRIVATE_ADDRESSES).`,
      );
  }

  /** Discovers the provider (validating that its metadata names this very issuer). */
  async discover(p: Omit<ProviderSettings, 'version'>): Promise<oidc.Configuration> {
    await this.assertIssuerAllowed(p.issuer);
    return oidc.discovery(
      new URL(p.issuer),
      p.clientId,
      undefined,
      oidc.ClientSecretBasic(p.clientSecret),
      {
        [oidc.customFetch]: this.#fetch,
        timeout: 10,
        ...(new URL(p.issuer).protocol === 'http:'
          ? { execute: [oidc.allowInsecureRequests] }
          : {}),
      },
    );
  }

  /** The tenant's configuration, discovered once per stored version and reused for a while. */
  async configFor(tenantId: string, p: ProviderSettings): Promise<oidc.Configuration> {
    const signature = `${p.issuer}\n${p.clientId}\n${p.version}`;
    const hit = this.#byTenant.get(tenantId);
    if (hit && hit.signature === signature && Date.now() - hit.at < DISCOVERY_TTL_MS)
      return hit.config;
    const config = await this.discover(p);
    this.#byTenant.set(tenantId, { signature, config, at: Date.now() });
    return config;
  }

  forget(tenantId: string): void {
    this.#byTenant.delete(tenantId);
  }
}

/** Discovery failure as a 400 that says what went wrong (no secret is ever in these messages). */
export function discoveryFailed(issuer: string, err: unknown): InvalidInput {
  return new InvalidInput(`OpenID Connect discovery of ${issuer} failed: ${messageOf(err)}`);
}

export { oidc };
