/**
 * The hot path's reads of a source, held in memory: its row (with the decrypted connector and
 * its warm pool) and its validated catalogue, so POST /v1/sql/query makes no round trip to
 * Rampart's database before running the statement. Entries are dropped when (1) any instance
 * changes the source (NOTIFY on 'rampart_sql_sources' from migration 0035's trigger), (2) this
 * instance changes it (forget(), before the write's response), or (3) their TTL passes, which
 * bounds a notification lost in flight. Until the subscription is up, and after it resets,
 * nothing is cached, as in the gateway's TenantConfigCache.
 */
import type { Database } from '../platform/db/database.js';
import { NotFound, ServiceUnavailable } from '../platform/http/errors.js';
import type { Principal } from '../platform/http/principal.js';
import { EnvelopeError, type Keyring } from '../platform/secrets/envelope.js';
import type { Catalogue, Connector } from './connector.js';
import { MysqlConnector } from './mysql-source-store.js';
import { PostgresConnector } from './pg-source-store.js';
import { SampleConnector } from './sample-store.js';
import {
  connectionOf,
  credentialContext,
  resolveAddress,
  type ConnectionSettings,
} from './source-connection.js';
import {
  envelopeOf,
  findSource,
  type SourceRow,
  type SourceSecretRow,
  type SourceType,
} from './sources-store.js';

export const SQL_SOURCES_CHANNEL = 'rampart_sql_sources';
const TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

/** A source with its decrypted connector, for one use by the query service. */
export interface OpenSource {
  row: SourceSecretRow;
  connector: Connector;
}

export interface SourceCacheOptions {
  allowPrivate: boolean;
  statementTimeoutMs: number;
}

export class SourceCache {
  readonly sample = new SampleConnector();
  readonly #connectors = new Map<string, { version: number; connector: Connector }>();
  /** `tenant\0ref` → row; ref is the id or the name the caller used. */
  readonly #rows = new Map<string, { row: SourceSecretRow; expiresAt: number }>();
  readonly #catalogues = new Map<string, { catalogue: Catalogue; at: Date; expiresAt: number }>();
  #generation = 0;
  #subscribed = false;
  readonly #subscription: Promise<(() => Promise<void>) | undefined>;

  constructor(
    private readonly db: Database,
    private readonly keyring: Keyring | undefined,
    private readonly opts: SourceCacheOptions,
  ) {
    this.#subscription = db
      .listen(
        SQL_SOURCES_CHANNEL,
        (payload) => {
          const [tenantId = '', id = ''] = payload.split(':');
          this.forget(tenantId, id);
        },
        () => this.#clear(),
      )
      .then(
        (unlisten) => {
          this.#subscribed = true;
          return unlisten;
        },
        () => undefined, // no notifications: nothing is cached
      );
  }

  /** Resolves once the invalidation subscription is up (or has failed). */
  async ready(): Promise<void> {
    await this.#subscription;
  }

  keyringOrThrow(): Keyring {
    if (!this.keyring)
      throw new ServiceUnavailable(
        'Database passwords cannot be stored: RAMPART_MASTER_KEY is not configured.',
        'master_key_missing',
      );
    return this.keyring;
  }

  /** The source's row, from memory when a fresh copy is held. */
  async row(principal: Principal, ref: string): Promise<SourceSecretRow> {
    const key = `${principal.tenantId}\0${ref}`;
    const hit = this.#rows.get(key);
    if (hit && hit.expiresAt > Date.now()) return hit.row;
    const generation = this.#generation;
    const row = await this.db.withTenant(principal, (tx) => findSource(tx, ref));
    if (!row) throw new NotFound('SQL source');
    if (this.#subscribed && generation === this.#generation) {
      if (this.#rows.size >= MAX_ENTRIES) this.#rows.clear();
      this.#rows.set(key, { row, expiresAt: Date.now() + TTL_MS });
    }
    return row;
  }

  /** The source's connector (decrypting its password once per process and version). */
  async open(principal: Principal, ref: string): Promise<OpenSource> {
    const row = await this.row(principal, ref);
    const version = row.updated_at.getTime();
    const held = this.#connectors.get(row.id);
    if (held && held.version === version) return { row, connector: held.connector };
    if (held) await this.closeConnector(row.id);
    const connector = await this.connect(row.name, row.type, connectionOf(row), this.password(row));
    const raced = this.#connectors.get(row.id);
    if (raced && raced.version === version) {
      if (connector !== this.sample) await connector.close().catch(() => undefined);
      return { row, connector: raced.connector };
    }
    this.#connectors.set(row.id, { version, connector });
    return { row, connector };
  }

  /** Keeps a connector made (and checked) by a write, so the first query finds it warm. */
  adopt(row: SourceRow, connector: Connector): void {
    this.#connectors.set(row.id, { version: row.updated_at.getTime(), connector });
  }

  async connect(
    name: string,
    type: SourceType,
    c: ConnectionSettings,
    password: string | undefined,
  ): Promise<Connector> {
    if (type === 'sample') return this.sample;
    const host = await resolveAddress(c.host ?? '', this.opts.allowPrivate);
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

  /** The held catalogue of a source, if fresh. */
  catalogue(id: string): { catalogue: Catalogue; at: Date } | undefined {
    const hit = this.#catalogues.get(id);
    return hit && hit.expiresAt > Date.now() ? hit : undefined;
  }

  keepCatalogue(id: string, catalogue: Catalogue, at: Date, generation: number): void {
    if (!this.#subscribed || generation !== this.#generation) return;
    if (this.#catalogues.size >= MAX_ENTRIES) this.#catalogues.clear();
    this.#catalogues.set(id, { catalogue, at, expiresAt: Date.now() + TTL_MS });
  }

  /** Taken before a read whose result may be kept: a change meanwhile makes it stale. */
  get generation(): number {
    return this.#generation;
  }

  /** Drops what is held of a tenant's sources (all its rows: a name may now mean another). */
  forget(tenantId: string, id: string): void {
    this.#generation += 1;
    const prefix = `${tenantId}\0`;
    for (const key of this.#rows.keys()) if (key.startsWith(prefix)) this.#rows.delete(key);
    this.#catalogues.delete(id);
  }

  async closeConnector(id: string): Promise<void> {
    const held = this.#connectors.get(id);
    this.#connectors.delete(id);
    if (held && held.connector !== this.sample) await held.connector.close().catch(() => undefined);
  }

  #clear(): void {
    this.#generation += 1;
    this.#rows.clear();
    this.#catalogues.clear();
  }

  /** The stored password of a row, decrypted. */
  password(row: SourceSecretRow): string | undefined {
    const env = envelopeOf(row);
    if (!env) return undefined;
    try {
      return this.keyringOrThrow().decrypt(env, credentialContext(row.tenant_id, row.id));
    } catch (err) {
      if (!(err instanceof EnvelopeError)) throw err;
      throw new ServiceUnavailable(
        `The password of source '${row.name}' cannot be decrypted with the configured master keys (it is under ${row.credential_key_id ?? '?'}).`,
        'credential_unavailable',
      );
    }
  }

  async close(): Promise<void> {
    const unlisten = await this.#subscription;
    this.#subscribed = false;
    this.#clear();
    await unlisten?.().catch(() => undefined);
    const all = [...this.#connectors.values()].map((c) => c.connector);
    this.#connectors.clear();
    await Promise.all([...all.filter((c) => c !== this.sample), this.sample].map((c) => c.close()));
  }
}
