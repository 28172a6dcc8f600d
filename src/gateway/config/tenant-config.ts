import type { Logger } from 'pino';
import type { Database } from '../../platform/db/database.js';
import type { TenantContext } from '../../platform/db/types.js';
import type { Limits } from '../../platform/http/limits-schema.js';
import { builtinPrice, type ModelPrice } from './prices.js';
import type { ProviderConfig, ProviderDataPolicy, ProviderType } from '../providers/types.js';
import type { ProviderService } from './providers-service.js';
import type { ProviderSecretRow } from './providers-store.js';
import type { RouteRow } from './routing-store.js';
import { loadTenantConfig, type TenantConfigRows } from './tenant-config-store.js';

/** The NOTIFY channel of migration 0007's triggers; the payload is the tenant id. */
export const GATEWAY_CONFIG_CHANNEL = 'rampart_gateway_config';

export interface KeyLimits {
  /** null: every alias. */
  models: string[] | null;
  limits: Limits;
}

const NO_KEY_LIMITS: KeyLimits = { models: null, limits: {} };

/** A provider a route may name: the tenant's own, else a platform-wide one. */
export interface ProviderHandle {
  type: ProviderType;
  /** The provider's outbound data policy and self-hosted mark (no decryption needed). */
  dataPolicy?: ProviderDataPolicy | undefined;
  selfHosted?: boolean | undefined;
  /** Decrypted on first use and kept for the snapshot's life. Holds the credential: never log it. */
  readonly config: ProviderConfig;
}

/** One tenant's gateway configuration at one moment: immutable, read without I/O. */
export class TenantGatewayConfig {
  readonly tenantLimits: Limits;
  /** The tenant requires PII redaction for every provider not marked self-hosted. */
  readonly requirePiiRedaction: boolean;
  readonly routes: readonly RouteRow[];
  readonly #routes: Map<string, RouteRow>;
  readonly #providers = new Map<string, ProviderHandle>();
  readonly #overrides: Map<string, ModelPrice>;
  readonly #prices = new Map<string, ModelPrice | null>();
  readonly #keys: Map<string, KeyLimits>;
  readonly #platform: ProviderService;

  constructor(rows: TenantConfigRows, providers: ProviderService) {
    this.routes = rows.routes;
    this.#routes = new Map(rows.routes.map((r) => [r.alias, r]));
    this.#overrides = rows.prices;
    this.tenantLimits = rows.tenantLimits;
    this.requirePiiRedaction = rows.requirePiiRedaction;
    this.#keys = new Map(
      rows.keyLimits.map((k) => [k.key_id, { models: k.models, limits: k.limits ?? {} }]),
    );
    for (const row of rows.providers) this.#providers.set(row.name, tenantProvider(row, providers));
    // A name the tenant does not have falls through to the platform's providers (looked up on
    // use: the platform set is fixed for the process's life).
    this.#platform = providers;
  }

  /** The route for a requested model: its own alias first, else the '*' pass-through route. */
  route(model: string): RouteRow | undefined {
    return this.#routes.get(model) ?? this.#routes.get('*');
  }

  provider(name: string): ProviderHandle | undefined {
    const own = this.#providers.get(name);
    if (own) return own;
    const platform = this.#platform.platformProvider(name);
    return platform
      ? {
          type: platform.type,
          config: platform,
          dataPolicy: platform.dataPolicy,
          selfHosted: platform.selfHosted,
        }
      : undefined;
  }

  /** The tenant's override, else the built-in price, else undefined (unpriced). */
  price(model: string): ModelPrice | undefined {
    let p = this.#prices.get(model);
    if (p === undefined) {
      p = this.#overrides.get(model) ?? builtinPrice(model) ?? null;
      this.#prices.set(model, p);
    }
    return p ?? undefined;
  }

  keyLimits(keyId: string | null): KeyLimits {
    return (keyId && this.#keys.get(keyId)) || NO_KEY_LIMITS;
  }

  /** Whether the key existed when this snapshot was loaded (a newer key needs a reload). */
  knowsKey(keyId: string): boolean {
    return this.#keys.has(keyId);
  }
}

function tenantProvider(row: ProviderSecretRow, providers: ProviderService): ProviderHandle {
  let config: ProviderConfig | undefined;
  return {
    type: row.type,
    dataPolicy: row.data_policy,
    selfHosted: row.self_hosted,
    // A failed decryption (master key missing or rotated away) is not memoised: it throws each time.
    get config() {
      return (config ??= providers.toConfig(row));
    },
  };
}

interface Entry {
  config: TenantGatewayConfig;
  expiresAt: number;
}

/**
 * Per-tenant snapshots of the gateway configuration, so a request reads its route, providers,
 * prices and limits with no database round trip. A snapshot is loaded in one tenant transaction
 * (under RLS like every read); concurrent misses for a tenant share that load. It is dropped
 * when (1) any instance changes the tenant's configuration (NOTIFY from migration 0007's
 * triggers), (2) this instance changes it (evict(), at once, before the write's response), or
 * (3) its TTL passes, which bounds a notification lost in flight. Until the subscription is up,
 * and after it resets, nothing is cached: a missed notification can never pin stale config.
 */
export class TenantConfigCache {
  readonly #entries = new Map<string, Entry>();
  readonly #loading = new Map<string, Promise<TenantGatewayConfig>>();
  #subscribed = false;
  readonly #subscription: Promise<(() => Promise<void>) | undefined>;

  constructor(
    private readonly db: Database,
    private readonly providers: ProviderService,
    private readonly opts: {
      ttlMs: number;
      logger: Logger;
      maxTenants?: number;
      now?: () => number;
    },
  ) {
    this.#subscription =
      opts.ttlMs > 0
        ? db
            .listen(
              GATEWAY_CONFIG_CHANNEL,
              (tenantId) => this.evict(tenantId),
              () => this.clear(),
            )
            .then(
              (unlisten) => {
                this.#subscribed = true;
                return unlisten;
              },
              (err: unknown) => {
                opts.logger.warn(
                  { err: { message: (err as Error).message } },
                  'gateway config notifications unavailable: config is not cached',
                );
                return undefined;
              },
            )
        : Promise.resolve(undefined);
  }

  /** Resolves once the invalidation subscription is up (or has failed). */
  async ready(): Promise<void> {
    await this.#subscription;
  }

  /** The tenant's current snapshot. */
  get(ctx: TenantContext & { keyId?: string | null }): Promise<TenantGatewayConfig> {
    const now = (this.opts.now ?? Date.now)();
    const hit = this.#entries.get(ctx.tenantId);
    // A key created after the snapshot (on any instance, its NOTIFY perhaps still in flight)
    // must not run without its limits: its first use reloads the tenant.
    if (hit && hit.expiresAt > now && (!ctx.keyId || hit.config.knowsKey(ctx.keyId)))
      return Promise.resolve(hit.config);
    const shared = this.#loading.get(ctx.tenantId);
    if (!shared) return this.#load(ctx, now);
    const keyId = ctx.keyId;
    if (!keyId) return shared;
    // A load already in flight may have started before this key existed.
    return shared.then((config) => (config.knowsKey(keyId) ? config : this.#load(ctx, now)));
  }

  #load(ctx: TenantContext, startedAt: number): Promise<TenantGatewayConfig> {
    const tenantId = ctx.tenantId;
    const load: Promise<TenantGatewayConfig> = this.db
      .withTenant(ctx, (tx) => loadTenantConfig(tx))
      .then((rows) => {
        const config = new TenantGatewayConfig(rows, this.providers);
        // Evicted while loading (a change committed meanwhile): serve it to the requests that
        // were already waiting, but do not keep it.
        if (this.#loading.get(tenantId) === load && this.#subscribed)
          this.#store(tenantId, config, startedAt);
        return config;
      })
      .finally(() => {
        if (this.#loading.get(tenantId) === load) this.#loading.delete(tenantId);
      });
    this.#loading.set(tenantId, load);
    return load;
  }

  #store(tenantId: string, config: TenantGatewayConfig, startedAt: number): void {
    const max = this.opts.maxTenants ?? 10_000;
    if (this.#entries.size >= max && !this.#entries.has(tenantId)) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(tenantId, { config, expiresAt: startedAt + this.opts.ttlMs });
  }

  /** Drops a tenant's snapshot and any load in flight (it may predate the change). */
  evict(tenantId: string): void {
    this.#entries.delete(tenantId);
    this.#loading.delete(tenantId);
  }

  clear(): void {
    this.#entries.clear();
    this.#loading.clear();
  }

  async close(): Promise<void> {
    const unlisten = await this.#subscription;
    this.#subscribed = false;
    this.clear();
    await unlisten?.();
  }
}
