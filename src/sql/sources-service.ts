import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { appendAuditEvent, type AuditAction } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import { pgErrorCode, UNIQUE_VIOLATION } from '../platform/db/sql.js';
import { Conflict, InvalidInput, NotFound, ServiceUnavailable } from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import { isPublicAddress } from '../platform/net/outbound-guard.js';
import { EnvelopeError, type Envelope, type Keyring } from '../platform/secrets/envelope.js';
import { NotReadOnlyLogin, type Catalogue, type Connector } from './connector.js';
import { MysqlConnector } from './mysql-source-store.js';
import { PostgresConnector } from './pg-source-store.js';
import { SAMPLE_TABLES, SampleConnector } from './sample-store.js';
import {
  Annotations,
  CatalogueSchema,
  type CatalogueView,
  Policies,
  type CreateSourceInput,
  type PatchSourceInput,
  type SourceView,
} from './schemas.js';
import {
  deleteSource,
  envelopeOf,
  findSource,
  insertSource,
  listSources,
  readCatalogue,
  saveCatalogue,
  updateSource,
  type SourceRow,
  type SourceSecretRow,
  type SourceType,
} from './sources-store.js';

interface ConnectionSettings {
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  ssl?: boolean;
}

const credentialContext = (tenantId: string, id: string): string => `sql_source:${tenantId}:${id}`;

const StoredConnection = z.object({
  host: z.string().optional(),
  port: z.number().optional(),
  database: z.string().optional(),
  user: z.string().optional(),
  ssl: z.boolean().optional(),
});

function connectionOf(row: SourceRow): ConnectionSettings {
  const parsed = StoredConnection.safeParse(row.connection);
  if (!parsed.success) return {};
  const { host, port, database, user, ssl } = parsed.data;
  return {
    ...(host !== undefined ? { host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(database !== undefined ? { database } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(ssl !== undefined ? { ssl } : {}),
  };
}

export function toView(row: SourceRow, hasPassword: boolean): SourceView {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    connection: connectionOf(row),
    hasPassword,
    schemas: row.schemas,
    tables: row.tables,
    description: row.description,
    modelAlias: row.model_alias,
    schemaRefreshedAt: row.catalogue_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** Parses the connection fields (or the URL) of a request; the password is returned apart. */
function parseConnection(
  type: SourceType,
  input: Pick<
    CreateSourceInput,
    'url' | 'host' | 'port' | 'database' | 'user' | 'password' | 'ssl'
  >,
  before: ConnectionSettings = {},
): { connection: ConnectionSettings; password: string | undefined } {
  let fromUrl: ConnectionSettings & { password?: string } = {};
  if (input.url !== undefined) {
    let u: URL;
    try {
      u = new URL(input.url);
    } catch {
      throw new InvalidInput('body.url: not a URL.', {
        errors: [{ field: 'body.url', message: 'not a URL' }],
      });
    }
    const schemes = type === 'postgres' ? ['postgres:', 'postgresql:'] : ['mysql:', 'mariadb:'];
    if (!schemes.includes(u.protocol))
      throw new InvalidInput(`body.url: a ${type} source needs a ${schemes[0]}// URL.`, {
        errors: [{ field: 'body.url', message: `scheme must be ${schemes.join(' or ')}` }],
      });
    const sslmode = u.searchParams.get('sslmode') ?? u.searchParams.get('ssl');
    fromUrl = {
      host: u.hostname.replace(/^\[|\]$/g, ''),
      ...(u.port ? { port: Number(u.port) } : {}),
      ...(u.pathname.length > 1 ? { database: decodeURIComponent(u.pathname.slice(1)) } : {}),
      ...(u.username ? { user: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(sslmode ? { ssl: sslmode !== 'disable' && sslmode !== 'false' } : {}),
    };
  }
  const connection: ConnectionSettings = {
    ...before,
    ...stripPassword(fromUrl),
    ...(input.host !== undefined ? { host: input.host } : {}),
    ...(input.port !== undefined ? { port: input.port } : {}),
    ...(input.database !== undefined ? { database: input.database } : {}),
    ...(input.user !== undefined ? { user: input.user } : {}),
    ...(input.ssl !== undefined ? { ssl: input.ssl } : {}),
  };
  connection.port ??= type === 'postgres' ? 5432 : 3306;
  for (const field of ['host', 'database', 'user'] as const)
    if (!connection[field])
      throw new InvalidInput(`body.${field}: required for a ${type} source (or give body.url).`, {
        errors: [{ field: `body.${field}`, message: 'required' }],
      });
  return { connection, password: input.password ?? fromUrl.password };
}

function stripPassword(c: ConnectionSettings & { password?: string }): ConnectionSettings {
  const { password: _password, ...rest } = c;
  return rest;
}

export interface SourceServiceOptions {
  /** OUTBOUND_ALLOW_PRIVATE_ADDRESSES: whether sources may live on non-public addresses. */
  allowPrivate: boolean;
  statementTimeoutMs: number;
}

/** A source with its decrypted connector, for one use by the query service. */
export interface OpenSource {
  row: SourceSecretRow;
  connector: Connector;
}

/** Registered databases: CRUD, the read-only check, the connectors and the catalogue. */
export class SourceService {
  readonly #connectors = new Map<string, { version: number; connector: Connector }>();
  readonly #sample = new SampleConnector();

  constructor(
    private readonly db: Database,
    private readonly keyring: Keyring | undefined,
    private readonly opts: SourceServiceOptions,
  ) {}

  async close(): Promise<void> {
    const all = [...this.#connectors.values()].map((c) => c.connector);
    this.#connectors.clear();
    await Promise.all(
      [...all.filter((c) => c !== this.#sample), this.#sample].map((c) => c.close()),
    );
  }

  #ring(): Keyring {
    if (!this.keyring)
      throw new ServiceUnavailable(
        'Database passwords cannot be stored: RAMPART_MASTER_KEY is not configured.',
        'master_key_missing',
      );
    return this.keyring;
  }

  /** Resolves the host now: refuses a non-public address unless the operator allows them. */
  async #address(host: string): Promise<string> {
    const literal = host.replace(/^\[|\]$/g, '');
    let addresses: string[];
    if (isIP(literal) !== 0) addresses = [literal];
    else {
      try {
        addresses = (await lookup(literal, { all: true })).map((a) => a.address);
      } catch {
        throw new InvalidInput(`body.host: ${host} does not resolve.`, {
          errors: [{ field: 'body.host', message: 'does not resolve' }],
        });
      }
    }
    const first = addresses[0];
    if (!first) throw new InvalidInput(`body.host: ${host} has no address.`);
    if (!this.opts.allowPrivate) {
      const bad = addresses.find((a) => !isPublicAddress(a));
      if (bad)
        throw new InvalidInput(
          `body.host: ${host} is not a public address (${bad}); databases usually live on private networks, so the operator can allow this with OUTBOUND_ALLOW_PRIVATE_ADDRESSES.`,
          { errors: [{ field: 'body.host', message: 'not a public address' }] },
        );
    }
    // The connection goes to the address checked here, so a DNS answer cannot change in between.
    return first;
  }

  async #connect(
    name: string,
    type: SourceType,
    c: ConnectionSettings,
    password: string | undefined,
  ): Promise<Connector> {
    if (type === 'sample') return this.#sample;
    const host = await this.#address(c.host ?? '');
    const settings = {
      host,
      port: c.port ?? (type === 'postgres' ? 5432 : 3306),
      database: c.database ?? '',
      user: c.user ?? '',
      password,
      ssl: c.ssl ?? false,
    };
    return type === 'postgres'
      ? new PostgresConnector(name, settings, this.opts.statementTimeoutMs)
      : new MysqlConnector(name, settings);
  }

  /** Checks the login is read-only (layer 3); closes the connector when it is not. */
  async #assertReadOnly(connector: Connector): Promise<void> {
    const close = async (): Promise<void> => {
      if (connector !== this.#sample) await connector.close().catch(() => undefined);
    };
    let excess: string[];
    try {
      excess = await connector.excessPrivileges();
    } catch (err) {
      await close();
      throw err;
    }
    if (excess.length > 0) {
      await close();
      throw new NotReadOnlyLogin(excess);
    }
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
        ? this.#ring().encrypt(password, credentialContext(principal.tenantId, id))
        : undefined;
    const connector = await this.#connect(input.name, input.type, connection, password);
    await this.#assertReadOnly(connector);
    const row = await this.#unique(input.name, () =>
      this.db.withTenant(principal, async (tx) => {
        const r = await insertSource(
          tx,
          {
            id,
            name: input.name,
            type: input.type,
            connection: { ...connection },
            schemas:
              input.type === 'sample'
                ? ['public']
                : (input.schemas ?? [defaultSchema(input.type, connection)]),
            tables:
              input.type === 'sample'
                ? (input.tables ?? SAMPLE_TABLES)
                : (input.tables?.map((t) =>
                    qualify(t, input.schemas ?? [defaultSchema(input.type, connection)]),
                  ) ?? null),
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
      if (connector !== this.#sample) await connector.close().catch(() => undefined);
      throw err;
    });
    this.#connectors.set(id, { version: row.updated_at.getTime(), connector });
    return toView(row, envelope !== undefined);
  }

  list(principal: Principal): Promise<SourceView[]> {
    return this.db.withTenant(principal, async (tx) =>
      (await listSources(tx)).map((r) => toView(r, r.credential_key_id !== null)),
    );
  }

  async row(principal: Principal, ref: string): Promise<SourceSecretRow> {
    const row = await this.db.withTenant(principal, (tx) => findSource(tx, ref));
    if (!row) throw new NotFound('SQL source');
    return row;
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
      const password = parsed.password ?? this.#password(before);
      if (parsed.password !== undefined)
        envelope = this.#ring().encrypt(
          parsed.password,
          credentialContext(principal.tenantId, before.id),
        );
      const connector = await this.#connect(before.name, before.type, connection, password);
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
    await this.#evict(before.id);
    return toView(row, envelope !== undefined || before.credential_key_id !== null);
  }

  async remove(principal: Principal, ref: string, meta: RequestMeta): Promise<void> {
    const before = await this.row(principal, ref);
    await this.db.withTenant(principal, async (tx) => {
      await deleteSource(tx, before.id);
      await audit(tx, principal, meta, 'sql_source.deleted', before.id, { name: before.name });
    });
    await this.#evict(before.id);
  }

  async #evict(id: string): Promise<void> {
    const held = this.#connectors.get(id);
    this.#connectors.delete(id);
    if (held && held.connector !== this.#sample)
      await held.connector.close().catch(() => undefined);
  }

  #password(row: SourceSecretRow): string | undefined {
    const env = envelopeOf(row);
    if (!env) return undefined;
    try {
      return this.#ring().decrypt(env, credentialContext(row.tenant_id, row.id));
    } catch (err) {
      if (!(err instanceof EnvelopeError)) throw err;
      throw new ServiceUnavailable(
        `The password of source '${row.name}' cannot be decrypted with the configured master keys (it is under ${row.credential_key_id ?? '?'}).`,
        'credential_unavailable',
      );
    }
  }

  /** The source's connector (decrypting its password once per process and version). */
  async open(principal: Principal, ref: string): Promise<OpenSource> {
    const row = await this.row(principal, ref);
    const version = row.updated_at.getTime();
    const held = this.#connectors.get(row.id);
    if (held && held.version === version) return { row, connector: held.connector };
    if (held) await this.#evict(row.id);
    const connector = await this.#connect(
      row.name,
      row.type,
      connectionOf(row),
      this.#password(row),
    );
    this.#connectors.set(row.id, { version, connector });
    return { row, connector };
  }

  /** The stored catalogue, introspected first when there is none yet. */
  async catalogue(
    principal: Principal,
    src: OpenSource,
    meta?: RequestMeta,
  ): Promise<{ catalogue: Catalogue; at: Date }> {
    const stored = await this.db.withTenant(principal, (tx) => readCatalogue(tx, src.row.id));
    const parsed = parseCatalogue(stored?.catalogue);
    if (parsed && stored?.catalogue_at) return { catalogue: parsed, at: stored.catalogue_at };
    return this.refresh(principal, src, meta);
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
    return { catalogue, at };
  }

  /** The catalogue as GET …/schema shows it, with the admins' descriptions merged in. */
  describe(row: SourceSecretRow, catalogue: Catalogue, at: Date): z.infer<typeof CatalogueView> {
    const notes = annotationsOf(row);
    return {
      source: row.id,
      refreshedAt: at.toISOString(),
      tables: catalogue.tables.map((t) => {
        const key = `${t.schema}.${t.name}`;
        const description = notes.tables[key] ?? notes.tables[t.name];
        return {
          ...t,
          ...(description ? { description } : {}),
          columns: t.columns.map((c) => {
            const d = notes.columns[`${key}.${c.name}`] ?? notes.columns[`${t.name}.${c.name}`];
            return d ? { ...c, description: d } : c;
          }),
        };
      }),
    };
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
    await this.#evict(before.id);
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

function defaultSchema(type: SourceType, c: ConnectionSettings): string {
  return type === 'mysql' ? (c.database ?? 'test') : 'public';
}

/** `table` → `schema.table` in the first schema; `schema.table` as given. */
function qualify(table: string, schemas: readonly string[]): string {
  return table.includes('.') ? table : `${schemas[0] ?? 'public'}.${table}`;
}

export function annotationsOf(row: SourceRow): Annotations {
  const parsed = Annotations.safeParse(row.annotations);
  return parsed.success ? parsed.data : { tables: {}, columns: {}, examples: [] };
}

export function policiesOf(row: SourceRow): Policies {
  const parsed = Policies.safeParse(row.policies);
  return parsed.success ? parsed.data : { rowFilters: [], masks: [] };
}

function parseCatalogue(v: unknown): Catalogue | undefined {
  const parsed = CatalogueSchema.safeParse(v);
  return parsed.success ? parsed.data : undefined;
}

async function audit(
  tx: TenantTx,
  principal: Principal,
  meta: RequestMeta,
  action: AuditAction,
  id: string,
  details: Record<string, unknown>,
): Promise<void> {
  await appendAuditEvent(tx, {
    actor: actorOf(principal),
    action,
    target: { type: 'sql_source', id },
    outcome: 'success',
    ip: meta.ip,
    requestId: meta.requestId,
    details,
  });
}
