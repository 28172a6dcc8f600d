import { randomUUID } from 'node:crypto';
import { auditSuccess, type AuditAction } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { pgErrorCode, UNIQUE_VIOLATION } from '../platform/db/sql.js';
import { Conflict } from '../platform/http/errors.js';
import type { Principal, RequestMeta } from '../platform/http/principal.js';
import type { Envelope, Keyring } from '../platform/secrets/envelope.js';
import { NotReadOnlyLogin, type Catalogue, type Connector } from './connector.js';
import { SAMPLE_TABLES } from './sample-store.js';
import type {
  Annotations,
  CreateSourceInput,
  PatchSourceInput,
  Policies,
  SourceView,
} from './schemas.js';
import { SourceCache, type OpenSource } from './source-cache.js';
import {
  connectionOf,
  credentialContext,
  defaultSchema,
  parseConnection,
  qualify,
  type ConnectionSettings,
} from './source-connection.js';
import {
  annotationsOf,
  describeCatalogue,
  parseCatalogue,
  policiesOf,
  toView,
} from './source-settings.js';
import {
  deleteSource,
  insertSource,
  listSources,
  readCatalogue,
  saveCatalogue,
  updateSource,
  type SourceSecretRow,
} from './sources-store.js';

export type { OpenSource } from './source-cache.js';
export { annotationsOf, policiesOf, toView } from './source-settings.js';

export interface SourceServiceOptions {
  /** OUTBOUND_ALLOW_PRIVATE_ADDRESSES: whether sources may live on non-public addresses. */
  allowPrivate: boolean;
  statementTimeoutMs: number;
}

/** Registered databases: CRUD, the read-only check, and the catalogue; connectors live in the cache. */
export class SourceService {
  readonly #cache: SourceCache;

  constructor(
    private readonly db: Database,
    keyring: Keyring | undefined,
    opts: SourceServiceOptions,
  ) {
    this.#cache = new SourceCache(db, keyring, opts);
  }

  /** Resolves once cache invalidation is subscribed (tests and benchmarks wait for it). */
  ready(): Promise<void> {
    return this.#cache.ready();
  }

  close(): Promise<void> {
    return this.#cache.close();
  }

  /** Checks the login is read-only (layer 3); closes the connector when it is not. */
  async #assertReadOnly(connector: Connector): Promise<void> {
    let excess: string[];
    try {
      excess = await connector.excessPrivileges();
    } catch (err) {
      await this.#discard(connector);
      throw err;
    }
    if (excess.length > 0) {
      await this.#discard(connector);
      throw new NotReadOnlyLogin(excess);
    }
  }

  async #discard(connector: Connector): Promise<void> {
    if (connector !== this.#cache.sample) await connector.close().catch(() => undefined);
  }

  async create(
    principal: Principal,
    input: CreateSourceInput,
    meta: RequestMeta,
  ): Promise<SourceView> {
    const id = randomUUID();
    let connection: ConnectionSettings = {};
    let password: string | undefined;
    if (input.type !== 'sample') ({ connection, password } = parseConnection(input.type, input));
    const envelope =
      password !== undefined
        ? this.#cache.keyringOrThrow().encrypt(password, credentialContext(principal.tenantId, id))
        : undefined;
    const connector = await this.#cache.connect(input.name, input.type, connection, password);
    await this.#assertReadOnly(connector);
    const schemas =
      input.type === 'sample'
        ? ['public']
        : (input.schemas ?? [defaultSchema(input.type, connection)]);
    const tables =
      input.type === 'sample'
        ? (input.tables ?? SAMPLE_TABLES)
        : (input.tables?.map((t) => qualify(t, schemas)) ?? null);
    const row = await this.#unique(input.name, () =>
      this.db.withTenant(principal, async (tx) => {
        const r = await insertSource(
          tx,
          {
            id,
            name: input.name,
            type: input.type,
            connection: { ...connection },
            schemas,
            tables,
            description: input.description ?? '',
            modelAlias: input.modelAlias ?? 'default',
          },
          envelope,
        );
        await audit(tx, principal, meta, 'sql_source.created', id, {
          name: r.name,
          type: r.type,
          connection: connectionOf(r),
        });
        return r;
      }),
    ).catch(async (err: unknown) => {
      await this.#discard(connector);
      throw err;
    });
    this.#cache.forget(principal.tenantId, id);
    this.#cache.adopt(row, connector);
    return toView(row, envelope !== undefined);
  }

  list(principal: Principal): Promise<SourceView[]> {
    return this.db.withTenant(principal, async (tx) =>
      (await listSources(tx)).map((r) => toView(r, r.credential_key_id !== null)),
    );
  }

  row(principal: Principal, ref: string): Promise<SourceSecretRow> {
    return this.#cache.row(principal, ref);
  }

  async get(principal: Principal, ref: string): Promise<SourceView> {
    const row = await this.row(principal, ref);
    return toView(row, row.credential_key_id !== null);
  }

  async patch(
    principal: Principal,
    ref: string,
    input: PatchSourceInput,
    meta: RequestMeta,
  ): Promise<SourceView> {
    const before = await this.row(principal, ref);
    const reconnect =
      before.type !== 'sample' &&
      [
        input.url,
        input.host,
        input.port,
        input.database,
        input.user,
        input.password,
        input.ssl,
      ].some((v) => v !== undefined);
    let connection: ConnectionSettings | undefined;
    let envelope: Envelope | undefined;
    if (reconnect) {
      const parsed = parseConnection(before.type, input, connectionOf(before));
      connection = parsed.connection;
      const password = parsed.password ?? this.#cache.password(before);
      if (parsed.password !== undefined)
        envelope = this.#cache
          .keyringOrThrow()
          .encrypt(parsed.password, credentialContext(principal.tenantId, before.id));
      const connector = await this.#cache.connect(before.name, before.type, connection, password);
      await this.#assertReadOnly(connector);
      await connector.close();
    }
    const schemas = input.schemas ?? before.schemas;
    const row = await this.#unique(input.name ?? before.name, () =>
      this.db.withTenant(principal, async (tx) => {
        const r = await updateSource(
          tx,
          before.id,
          {
            name: input.name,
            connection: connection ? { ...connection } : undefined,
            schemas: input.schemas,
            tables:
              input.tables === undefined
                ? undefined
                : (input.tables?.map((t) => qualify(t, schemas)) ?? null),
            description: input.description,
            modelAlias: input.modelAlias,
          },
          envelope,
        );
        await audit(tx, principal, meta, 'sql_source.updated', before.id, {
          name: r.name,
          fields: Object.keys(input).filter((k) => k !== 'password' && k !== 'url'),
          credentialChanged: envelope !== undefined,
        });
        return r;
      }),
    );
    await this.#changed(principal, before.id);
    return toView(row, envelope !== undefined || before.credential_key_id !== null);
  }

  async remove(principal: Principal, ref: string, meta: RequestMeta): Promise<void> {
    const before = await this.row(principal, ref);
    await this.db.withTenant(principal, async (tx) => {
      await deleteSource(tx, before.id);
      await audit(tx, principal, meta, 'sql_source.deleted', before.id, { name: before.name });
    });
    await this.#changed(principal, before.id);
  }

  /** After this instance changed a source: drop what is held of it and close its pool. */
  async #changed(principal: Principal, id: string): Promise<void> {
    this.#cache.forget(principal.tenantId, id);
    await this.#cache.closeConnector(id);
  }

  /** The source's connector, warm from the cache when its row has not changed. */
  open(principal: Principal, ref: string): Promise<OpenSource> {
    return this.#cache.open(principal, ref);
  }

  /** The catalogue (held in memory, else stored, else introspected first). */
  async catalogue(
    principal: Principal,
    src: OpenSource,
    meta?: RequestMeta,
  ): Promise<{ catalogue: Catalogue; at: Date }> {
    const held = this.#cache.catalogue(src.row.id);
    if (held) return held;
    const generation = this.#cache.generation;
    const stored = await this.db.withTenant(principal, (tx) => readCatalogue(tx, src.row.id));
    const parsed = parseCatalogue(stored?.catalogue);
    if (!parsed || !stored?.catalogue_at) return this.refresh(principal, src, meta);
    this.#cache.keepCatalogue(src.row.id, parsed, stored.catalogue_at, generation);
    return { catalogue: parsed, at: stored.catalogue_at };
  }

  async refresh(
    principal: Principal,
    src: OpenSource,
    meta?: RequestMeta,
  ): Promise<{ catalogue: Catalogue; at: Date }> {
    const allowed = src.row.tables ? new Set(src.row.tables) : undefined;
    const catalogue = await src.connector.introspect(src.row.schemas, allowed);
    const at = await this.db.withTenant(principal, async (tx) => {
      const when = await saveCatalogue(tx, src.row.id, catalogue);
      if (meta)
        await audit(tx, principal, meta, 'sql_source.schema_refreshed', src.row.id, {
          name: src.row.name,
          tables: catalogue.tables.length,
        });
      return when;
    });
    this.#cache.forget(principal.tenantId, src.row.id);
    return { catalogue, at };
  }

  describe = describeCatalogue;

  /** The source's annotations as last written (empty when none). */
  async annotations(principal: Principal, ref: string): Promise<Annotations> {
    return annotationsOf(await this.row(principal, ref));
  }

  /** The source's row filters and column masks as last written (empty when none). */
  async policies(principal: Principal, ref: string): Promise<Policies> {
    return policiesOf(await this.row(principal, ref));
  }

  async putAnnotations(
    principal: Principal,
    ref: string,
    body: Annotations,
    meta: RequestMeta,
  ): Promise<Annotations> {
    const before = await this.row(principal, ref);
    await this.db.withTenant(principal, async (tx) => {
      await updateSource(tx, before.id, { annotations: body }, undefined);
      await audit(tx, principal, meta, 'sql_source.annotations_updated', before.id, {
        name: before.name,
        tables: Object.keys(body.tables).length,
        columns: Object.keys(body.columns).length,
        examples: body.examples.length,
      });
    });
    this.#cache.forget(principal.tenantId, before.id);
    return body;
  }

  async putPolicies(
    principal: Principal,
    ref: string,
    body: Policies,
    meta: RequestMeta,
    check: (row: SourceSecretRow, p: Policies) => Promise<void>,
  ): Promise<Policies> {
    const before = await this.row(principal, ref);
    await check(before, body);
    await this.db.withTenant(principal, async (tx) => {
      await updateSource(tx, before.id, { policies: body }, undefined);
      await audit(tx, principal, meta, 'sql_source.policies_updated', before.id, {
        name: before.name,
        rowFilters: body.rowFilters.length,
        masks: body.masks.length,
      });
    });
    await this.#changed(principal, before.id);
    return body;
  }

  async #unique<T>(name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (pgErrorCode(err) === UNIQUE_VIOLATION)
        throw new Conflict(`A SQL source named '${name}' already exists.`, 'sql_source_exists');
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
  await auditSuccess(tx, principal, meta, action, { type: 'sql_source', id }, details);
}
