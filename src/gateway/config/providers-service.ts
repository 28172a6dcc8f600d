import { randomUUID } from 'node:crypto';
import { auditSuccess, type AuditAction } from '../../audit/service.js';
import type { Database, TenantTx } from '../../platform/db/database.js';
import { pgErrorCode, UNIQUE_VIOLATION } from '../../platform/db/sql.js';
import {
  Conflict,
  InvalidInput,
  NotFound,
  ServiceUnavailable,
} from '../../platform/http/errors.js';
import { nonPublicAddressOf } from '../../platform/net/outbound-guard.js';
import type { Principal, RequestMeta } from '../../platform/http/principal.js';
import { decryptSecret, EnvelopeError, type Keyring } from '../../platform/secrets/envelope.js';
import { DEFAULT_BASE_URLS } from '../providers/index.js';
import type { ProviderConfig, ProviderDataPolicy, ProviderType } from '../providers/types.js';
import {
  deleteProvider,
  envelopeOf,
  getProvider,
  insertProvider,
  listProviders,
  listStaleCredentials,
  updateCredentialWrap,
  updateProvider,
  type ProviderRow,
  type ProviderSecretRow,
} from './providers-store.js';
import { routesUsingProvider } from './routing-store.js';

export interface ProviderView {
  id: string;
  name: string;
  type: ProviderType;
  baseUrl: string;
  headers: Record<string, string>;
  dataPolicy: { redactPii: boolean; allowDataClasses?: string[] };
  selfHosted: boolean;
  createdAt: string;
  updatedAt: string;
}

/** The stored data policy in the API's shape (redactPii always present). */
function policyView(p: ProviderRow['data_policy']): ProviderView['dataPolicy'] {
  return {
    redactPii: p.redactPii === true,
    ...(p.allowDataClasses ? { allowDataClasses: p.allowDataClasses } : {}),
  };
}

function toView(r: ProviderRow): ProviderView {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    baseUrl: r.base_url,
    headers: r.headers,
    dataPolicy: policyView(r.data_policy),
    selfHosted: r.self_hosted,
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

// Binds a ciphertext to its row: copied into another tenant's or provider's row it won't decrypt.
function credentialContext(tenantId: string, providerId: string): string {
  return `provider:${tenantId}:${providerId}`;
}

export interface CreateProviderInput {
  name: string;
  type: ProviderType;
  baseUrl?: string | undefined;
  apiKey: string;
  headers?: Record<string, string> | undefined;
  dataPolicy?: ProviderDataPolicy | undefined;
  selfHosted?: boolean | undefined;
}

export interface PatchProviderInput {
  name?: string | undefined;
  baseUrl?: string | undefined;
  apiKey?: string | undefined;
  headers?: Record<string, string> | undefined;
  dataPolicy?: ProviderDataPolicy | undefined;
  selfHosted?: boolean | undefined;
}

/** A tenant's upstream providers; credentials are envelope-encrypted and never leave this module in a response. */
export class ProviderService {
  readonly #platform: ReadonlyMap<string, ProviderConfig>;

  constructor(
    private readonly db: Database,
    private readonly keyring: Keyring | undefined,
    platform: ReadonlyMap<string, ProviderConfig> = new Map(),
    /** Called after a committed change, so this instance's gateway config cache drops the tenant. */
    private readonly onChanged: (tenantId: string) => void = () => undefined,
    /** OUTBOUND_ALLOW_PRIVATE_ADDRESSES: whether base URLs may point at non-public addresses. */
    private readonly allowPrivate = true,
  ) {
    this.#platform = platform;
  }

  /** A write transaction; the tenant's cached gateway config is dropped once it commits. */
  async #write<T>(
    principal: Pick<Principal, 'tenantId' | 'userId' | 'groups'>,
    fn: (tx: TenantTx) => Promise<T>,
  ): Promise<T> {
    const out = await this.db.withTenant(principal, fn);
    this.onChanged(principal.tenantId);
    return out;
  }

  /**
   * A platform-wide provider (from the operator's providers file) by name: usable in every
   * tenant's routes; a tenant's own provider of the same name is refused at creation.
   */
  platformProvider(name: string): ProviderConfig | undefined {
    return this.#platform.get(name);
  }

  #ring(): Keyring {
    if (!this.keyring)
      throw new ServiceUnavailable(
        'Provider credentials cannot be stored: RAMPART_MASTER_KEY is not configured.',
        'master_key_missing',
      );
    return this.keyring;
  }

  async create(
    principal: Principal,
    input: CreateProviderInput,
    meta: RequestMeta,
  ): Promise<ProviderView> {
    const ring = this.#ring();
    const id = randomUUID();
    const envelope = ring.encrypt(input.apiKey, credentialContext(principal.tenantId, id));
    const baseUrl = input.baseUrl ?? DEFAULT_BASE_URLS[input.type];
    await this.#assertPublic(baseUrl);
    return this.#unique(input.name, () =>
      this.#write(principal, async (tx) => {
        const row = await insertProvider(
          tx,
          {
            id,
            name: input.name,
            type: input.type,
            baseUrl,
            headers: input.headers ?? {},
            dataPolicy: input.dataPolicy ?? {},
            selfHosted: input.selfHosted ?? false,
          },
          envelope,
        );
        await audit(tx, principal, meta, 'provider.created', id, {
          name: row.name,
          type: row.type,
          baseUrl: row.base_url,
          headerNames: Object.keys(row.headers),
          dataPolicy: policyView(row.data_policy),
          selfHosted: row.self_hosted,
        });
        return toView(row);
      }),
    );
  }

  list(principal: Principal): Promise<ProviderView[]> {
    return this.db.withTenant(principal, async (tx) => (await listProviders(tx)).map(toView));
  }

  /** The platform providers every tenant may route to (never their keys). */
  platformList(): { name: string; type: ProviderType; baseUrl: string }[] {
    return [...this.#platform].map(([name, c]) => ({ name, type: c.type, baseUrl: c.baseUrl }));
  }

  async get(principal: Principal, id: string): Promise<ProviderView> {
    const row = await this.db.withTenant(principal, (tx) => getProvider(tx, id));
    if (!row) throw new NotFound('Provider');
    return toView(row);
  }

  async update(
    principal: Principal,
    id: string,
    patch: PatchProviderInput,
    meta: RequestMeta,
  ): Promise<ProviderView> {
    if (patch.baseUrl !== undefined) await this.#assertPublic(patch.baseUrl);
    const envelope =
      patch.apiKey === undefined
        ? undefined
        : this.#ring().encrypt(patch.apiKey, credentialContext(principal.tenantId, id));
    return this.#unique(patch.name ?? '', () =>
      this.#write(principal, async (tx) => {
        const before = await getProvider(tx, id);
        if (!before) throw new NotFound('Provider');
        if (patch.name !== undefined && patch.name !== before.name) {
          const inUse = await routesUsingProvider(tx, before.name);
          if (inUse.length > 0)
            throw new Conflict(
              `Provider '${before.name}' is used by routes ${inUse.join(', ')}; update them before renaming it.`,
              'provider_in_use',
            );
        }
        const after = (await updateProvider(tx, id, patch, envelope)) as ProviderRow;
        const changes: Record<string, unknown> = {};
        if (patch.name !== undefined && patch.name !== before.name)
          changes.name = { from: before.name, to: patch.name };
        if (patch.baseUrl !== undefined && patch.baseUrl !== before.base_url)
          changes.baseUrl = { from: before.base_url, to: patch.baseUrl };
        if (patch.headers !== undefined) changes.headerNames = Object.keys(patch.headers);
        if (patch.dataPolicy !== undefined)
          changes.dataPolicy = {
            from: policyView(before.data_policy),
            to: policyView(after.data_policy),
          };
        if (patch.selfHosted !== undefined && patch.selfHosted !== before.self_hosted)
          changes.selfHosted = { from: before.self_hosted, to: patch.selfHosted };
        // That the key changed is recorded; the key itself never is.
        if (patch.apiKey !== undefined) changes.apiKeyReplaced = true;
        await audit(tx, principal, meta, 'provider.updated', id, changes);
        return toView(after);
      }),
    );
  }

  async remove(principal: Principal, id: string, meta: RequestMeta): Promise<void> {
    await this.#write(principal, async (tx) => {
      const before = await getProvider(tx, id);
      if (!before) throw new NotFound('Provider');
      const inUse = await routesUsingProvider(tx, before.name);
      if (inUse.length > 0)
        throw new Conflict(
          `Provider '${before.name}' is used by routes ${inUse.join(', ')}; remove it from them first.`,
          'provider_in_use',
        );
      await deleteProvider(tx, id);
      await audit(tx, principal, meta, 'provider.deleted', id, {
        name: before.name,
        type: before.type,
      });
    });
  }

  /** Decrypts a provider row for one upstream call. The result holds the credential: never log it. */
  toConfig(row: ProviderSecretRow): ProviderConfig {
    let apiKey: string;
    try {
      apiKey = decryptSecret(
        this.#ring(),
        envelopeOf(row),
        credentialContext(row.tenant_id, row.id),
      );
    } catch (err) {
      if (!(err instanceof EnvelopeError)) throw err;
      throw new ServiceUnavailable(
        `The credential of provider '${row.name}' cannot be decrypted with the configured master keys (it is under ${row.credential_key_id}).`,
        'credential_unavailable',
      );
    }
    return {
      type: row.type,
      baseUrl: row.base_url,
      apiKey,
      headers: row.headers,
      dataPolicy: row.data_policy,
      selfHosted: row.self_hosted,
    };
  }

  /**
   * Master-key rotation for one tenant: re-wraps every data key that is not under the current
   * master key (readable through RAMPART_MASTER_KEY_PREVIOUS). Ciphertexts are untouched.
   */
  async rewrapCredentials(
    principal: Pick<Principal, 'tenantId' | 'userId' | 'groups'>,
  ): Promise<number> {
    const ring = this.#ring();
    return this.#write(principal, async (tx) => {
      const stale = await listStaleCredentials(tx, ring.current.id);
      for (const row of stale)
        await updateCredentialWrap(tx, row.id, ring.rewrapToCurrent(envelopeOf(row)));
      return stale.length;
    });
  }

  /** Refuses a base URL on a non-public address (the upstream client checks again at connect). */
  async #assertPublic(baseUrl: string): Promise<void> {
    if (this.allowPrivate) return;
    const address = await nonPublicAddressOf(baseUrl);
    if (address)
      throw new InvalidInput(
        `body.baseUrl: ${new URL(baseUrl).host} is not a public address (${address}); the operator can allow this with OUTBOUND_ALLOW_PRIVATE_ADDRESSES or offer it as a platform provider.`,
        { errors: [{ field: 'body.baseUrl', message: 'not a public address' }] },
      );
  }

  async #unique<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (this.#platform.has(name))
      throw new Conflict(
        `'${name}' is the name of a platform provider; choose another name.`,
        'provider_exists',
      );
    try {
      return await fn();
    } catch (err) {
      if (pgErrorCode(err) === UNIQUE_VIOLATION)
        throw new Conflict(`A provider named '${name}' already exists.`, 'provider_exists');
      throw err;
    }
  }
}

async function audit(
  tx: TenantTx,
  principal: Principal,
  meta: RequestMeta,
  action: AuditAction,
  id: string,
  details: Record<string, unknown>,
): Promise<void> {
  await auditSuccess(tx, principal, meta, action, { type: 'provider', id }, details);
}
