/** A source's connection settings: parsed from a request, stored without the password, checked. */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { z } from 'zod';
import { InvalidInput } from '../platform/http/errors.js';
import { isPublicAddress } from '../platform/net/outbound-guard.js';
import type { CreateSourceInput } from './schemas.js';
import type { SourceRow, SourceType } from './sources-store.js';

export interface ConnectionSettings {
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  ssl?: boolean;
}

/** The envelope context binding a source's password to its tenant and id. */
export const credentialContext = (tenantId: string, id: string): string =>
  `sql_source:${tenantId}:${id}`;

const StoredConnection = z.object({
  host: z.string().optional(),
  port: z.number().optional(),
  database: z.string().optional(),
  user: z.string().optional(),
  ssl: z.boolean().optional(),
});

export function connectionOf(row: SourceRow): ConnectionSettings {
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

/** Parses the connection fields (or the URL) of a request; the password is returned apart. */
export function parseConnection(
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
  const { password: _password, ...urlSettings } = fromUrl;
  const connection: ConnectionSettings = {
    ...before,
    ...urlSettings,
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

/** Resolves the host now: refuses a non-public address unless the operator allows them. */
export async function resolveAddress(host: string, allowPrivate: boolean): Promise<string> {
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
  if (!allowPrivate) {
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

export function defaultSchema(type: SourceType, c: ConnectionSettings): string {
  return type === 'mysql' ? (c.database ?? 'test') : 'public';
}

/** `table` → `schema.table` in the first schema; `schema.table` as given. */
export function qualify(table: string, schemas: readonly string[]): string {
  return table.includes('.') ? table : `${schemas[0] ?? 'public'}.${table}`;
}
