import { auditSuccess, type AuditAction } from '../../audit/service.js';
import type { Database, TenantTx } from '../../platform/db/database.js';
import { pgErrorCode, UNIQUE_VIOLATION } from '../../platform/db/sql.js';
import { Conflict, InvalidInput, NotFound } from '../../platform/http/errors.js';
import type { Principal, RequestMeta } from '../../platform/http/principal.js';
import { BUILTIN_PRICES, type ModelPrice } from './prices.js';
import { existingProviderNames } from './providers-store.js';
import {
  deleteRoute,
  getRoute,
  insertRoute,
  listRoutes,
  updateRoute,
  type Fallback,
  type RouteCache,
  type RouteRow,
  type Target,
} from './routing-store.js';
import { deletePrice, listPrices, upsertPrice } from './prices-store.js';

export interface RouteView {
  alias: string;
  targets: Target[];
  fallbacks: Fallback[];
  cache: RouteCache | null;
  createdAt: string;
  updatedAt: string;
}

export interface RouteInput {
  targets: Target[];
  fallbacks: Fallback[];
  cache?: RouteCache | null | undefined;
}

export interface PriceView extends ModelPrice {
  model: string;
  source: 'builtin' | 'tenant';
}

function toView(r: RouteRow): RouteView {
  return {
    alias: r.alias,
    targets: r.targets,
    fallbacks: r.fallbacks,
    cache: r.cache ?? null,
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

/** Every provider a route names must exist in the tenant; the error names the first bad field. */
async function assertProvidersExist(
  tx: TenantTx,
  input: RouteInput,
  isPlatform: (name: string) => boolean,
): Promise<void> {
  const refs = [
    ...input.targets.map((t, i) => ({ field: `body.targets.${i}.provider`, name: t.provider })),
    ...input.fallbacks.map((f, i) => ({ field: `body.fallbacks.${i}.provider`, name: f.provider })),
  ];
  const known = await existingProviderNames(tx, [...new Set(refs.map((r) => r.name))]);
  const errors = refs
    .filter((r) => !known.has(r.name) && !isPlatform(r.name))
    .map((r) => ({ field: r.field, message: `no provider named '${r.name}'` }));
  const first = errors[0];
  if (first) throw new InvalidInput(`${first.field}: ${first.message}`, { errors });
}

/** Model aliases and routes, and the tenant's price overrides. */
export class RoutingService {
  constructor(
    private readonly db: Database,
    /** Whether a provider name is a platform-wide provider (usable by every tenant's routes). */
    private readonly isPlatformProvider: (name: string) => boolean = () => false,
    /** Called after a committed change, so this instance's gateway config cache drops the tenant. */
    private readonly onChanged: (tenantId: string) => void = () => undefined,
  ) {}

  /** A write transaction; the tenant's cached gateway config is dropped once it commits. */
  async #write<T>(principal: Principal, fn: (tx: TenantTx) => Promise<T>): Promise<T> {
    const out = await this.db.withTenant(principal, fn);
    this.onChanged(principal.tenantId);
    return out;
  }

  async create(
    principal: Principal,
    alias: string,
    input: RouteInput,
    meta: RequestMeta,
  ): Promise<RouteView> {
    try {
      return await this.#write(principal, async (tx) => {
        await assertProvidersExist(tx, input, this.isPlatformProvider);
        const row = await insertRoute(tx, { alias, ...input });
        await audit(tx, principal, meta, 'route.created', alias, { ...input });
        return toView(row);
      });
    } catch (err) {
      if (pgErrorCode(err) === UNIQUE_VIOLATION)
        throw new Conflict(
          `A route for alias '${alias}' already exists; use PUT to change it.`,
          'route_exists',
        );
      throw err;
    }
  }

  /** Replaces the route of an alias, creating it if absent. */
  put(
    principal: Principal,
    alias: string,
    input: RouteInput,
    meta: RequestMeta,
  ): Promise<{ route: RouteView; created: boolean }> {
    return this.#write(principal, async (tx) => {
      await assertProvidersExist(tx, input, this.isPlatformProvider);
      const updated = await updateRoute(tx, { alias, ...input });
      const row = updated ?? (await insertRoute(tx, { alias, ...input }));
      await audit(tx, principal, meta, updated ? 'route.updated' : 'route.created', alias, {
        ...input,
      });
      return { route: toView(row), created: !updated };
    });
  }

  list(principal: Principal): Promise<RouteView[]> {
    return this.db.withTenant(principal, async (tx) => (await listRoutes(tx)).map(toView));
  }

  async get(principal: Principal, alias: string): Promise<RouteView> {
    const row = await this.db.withTenant(principal, (tx) => getRoute(tx, alias));
    if (!row) throw new NotFound('Route');
    return toView(row);
  }

  async remove(principal: Principal, alias: string, meta: RequestMeta): Promise<void> {
    await this.#write(principal, async (tx) => {
      if (!(await deleteRoute(tx, alias))) throw new NotFound('Route');
      await audit(tx, principal, meta, 'route.deleted', alias, {});
    });
  }

  async setPrice(
    principal: Principal,
    model: string,
    price: ModelPrice,
    meta: RequestMeta,
  ): Promise<PriceView> {
    await this.#write(principal, async (tx) => {
      await upsertPrice(tx, model, price);
      await auditSuccess(
        tx,
        principal,
        meta,
        'price.set',
        { type: 'model_price', id: model },
        { ...price },
      );
    });
    return { model, ...price, source: 'tenant' };
  }

  async removePrice(principal: Principal, model: string, meta: RequestMeta): Promise<void> {
    await this.#write(principal, async (tx) => {
      if (!(await deletePrice(tx, model))) throw new NotFound('Price override');
      await auditSuccess(tx, principal, meta, 'price.removed', { type: 'model_price', id: model });
    });
  }

  /** Built-in prices overlaid with the tenant's overrides. */
  async prices(principal: Principal): Promise<PriceView[]> {
    const rows = await this.db.withTenant(principal, (tx) => listPrices(tx));
    const out = new Map<string, PriceView>(
      Object.entries(BUILTIN_PRICES).map(([model, p]) => [
        model,
        { model, ...p, source: 'builtin' },
      ]),
    );
    for (const r of rows)
      out.set(r.model, {
        model: r.model,
        input: Number(r.input_per_mtok),
        output: Number(r.output_per_mtok),
        cachedInput: Number(r.cached_input_per_mtok),
        source: 'tenant',
      });
    return [...out.values()].sort((a, b) => a.model.localeCompare(b.model));
  }
}

async function audit(
  tx: TenantTx,
  principal: Principal,
  meta: RequestMeta,
  action: AuditAction,
  alias: string,
  details: Record<string, unknown>,
): Promise<void> {
  await auditSuccess(tx, principal, meta, action, { type: 'model_route', id: alias }, details);
}
