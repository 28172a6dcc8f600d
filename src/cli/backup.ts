// `rampart backup` and `rampart restore [--verify]`: pg_dump / pg_restore of the PostgreSQL
// database, with a manifest (migrations, row counts, audit chain heads) taken in the same
// snapshot as the dump, so a restore can be checked against what was saved.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { Config } from '../config.js';
import { verifyChain } from '../audit/service.js';
import { loadMigrations, migrationStatus } from '../platform/db/migrator.js';
import { withAdminClient } from '../platform/db/pg-driver.js';
import { openDatabase } from '../platform/db/open.js';
import {
  auditChainHeads,
  beginSnapshot,
  endSnapshot,
  ensureAppRole,
  hasRampartSchema,
  tableRowCounts,
} from './ops-store.js';

const Manifest = z.object({
  format: z.literal(1),
  createdAt: z.string(),
  migrations: z.array(z.number().int()),
  tables: z.record(z.string(), z.number().int().nonnegative()),
  auditHeads: z.array(
    z.object({
      tenantId: z.string(),
      slug: z.string().nullable(),
      seq: z.number().int().positive(),
      hash: z.string(),
    }),
  ),
});
type Manifest = z.infer<typeof Manifest>;

export const manifestPath = (dump: string): string => `${dump}.manifest.json`;

/** Usage problems exit 2, like the other commands. */
function usage(message: string): void {
  process.stderr.write(`rampart: ${message}\n`);
  process.exitCode = 2;
}

function adminUrl(cfg: Config): string | undefined {
  return cfg.DATABASE_ADMIN_URL ?? cfg.DATABASE_URL;
}

/**
 * libpq settings for pg_dump / pg_restore from a connection URL: passed in the environment,
 * not on the command line, where other users of the machine could read the password.
 */
function libpqEnv(url: string): Record<string, string> {
  const u = new URL(url);
  const env: Record<string, string> = {};
  if (u.hostname) env.PGHOST = decodeURIComponent(u.hostname.replace(/^\[|\]$/g, ''));
  if (u.port) env.PGPORT = u.port;
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (db) env.PGDATABASE = db;
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}

/** Runs a PostgreSQL client tool; rejects with its stderr when it fails. */
function run(tool: string, args: string[], url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, {
      // The child inherits this process's environment (PATH, locale) plus the connection: a
      // pass-through, not a setting read outside config.ts.
      // eslint-disable-next-line no-restricted-properties
      env: { ...process.env, ...libpqEnv(url) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', (e) => reject(new Error(`${tool}: ${e.message}`)));
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${tool} exited ${code}: ${err.trim()}`)),
    );
  });
}

/** `rampart backup --output FILE`. */
export async function backup(opts: { output?: string }, config: () => Config): Promise<void> {
  if (!opts.output) return usage('backup needs --output <file>');
  const cfg = config();
  const url = adminUrl(cfg);
  if (!url)
    return usage(
      'backup needs PostgreSQL (DATABASE_ADMIN_URL or DATABASE_URL); for the embedded database stop the server and copy RAMPART_DATA_DIR',
    );
  const output = opts.output;
  try {
    const manifest = await withAdminClient(url, async (q) => {
      // One snapshot for the dump and the manifest: the counts and heads describe the dump.
      const snapshot = await beginSnapshot(q);
      try {
        const status = await migrationStatus(q);
        const m: Manifest = {
          format: 1,
          createdAt: new Date().toISOString(),
          migrations: status.applied,
          tables: await tableRowCounts(q),
          auditHeads: await auditChainHeads(q),
        };
        await run(
          'pg_dump',
          ['--format=custom', '--no-owner', `--snapshot=${snapshot}`, `--file=${output}`],
          url,
        );
        return m;
      } finally {
        await endSnapshot(q);
      }
    });
    writeFileSync(manifestPath(output), `${JSON.stringify(manifest, null, 2)}\n`);
    const rows = Object.values(manifest.tables).reduce((a, b) => a + b, 0);
    process.stdout.write(
      `backup written to ${output} (${Object.keys(manifest.tables).length} tables, ${rows} rows, ${manifest.auditHeads.length} audit chains); manifest ${manifestPath(output)}\n`,
    );
  } catch (err) {
    process.stderr.write(`rampart: backup failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

/** `rampart restore --input FILE [--verify | --verify-only]`. */
export async function restore(
  opts: { input?: string; verify?: boolean; verifyOnly?: boolean },
  config: () => Config,
): Promise<void> {
  if (!opts.input) return usage('restore needs --input <file> (a dump written by rampart backup)');
  const cfg = config();
  const url = adminUrl(cfg);
  if (!url)
    return usage('restore needs PostgreSQL: DATABASE_ADMIN_URL (the owner) of an empty database');
  let manifest: Manifest | undefined;
  if (opts.verify || opts.verifyOnly) {
    try {
      manifest = Manifest.parse(JSON.parse(readFileSync(manifestPath(opts.input), 'utf8')));
    } catch (err) {
      return usage(
        `cannot read the manifest ${manifestPath(opts.input)}: ${(err as Error).message}`,
      );
    }
  }
  const input = opts.input;
  if (!opts.verifyOnly) {
    try {
      const occupied = await withAdminClient(url, async (q) => {
        if (await hasRampartSchema(q)) return true;
        // The dump grants to rampart_app: a new server needs the role before pg_restore.
        await ensureAppRole(q);
        return false;
      });
      if (occupied)
        return usage(
          'the target database already holds a Rampart schema: restore into a new, empty database',
        );
      await run(
        'pg_restore',
        [
          '--no-owner',
          '--exit-on-error',
          '--single-transaction',
          `--dbname=${new URL(url).pathname.slice(1)}`,
          input,
        ],
        url,
      );
      process.stdout.write(`restored ${input}\n`);
    } catch (err) {
      process.stderr.write(`rampart: restore failed: ${(err as Error).message}\n`);
      process.exitCode = 1;
      return;
    }
  }
  if (manifest) process.exitCode = (await verifyRestore(cfg, url, manifest)) ? 0 : 1;
}

/** Checks the database against a backup's manifest; prints one line per check. */
async function verifyRestore(cfg: Config, url: string, manifest: Manifest): Promise<boolean> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  let ok = true;
  const fail = (line: string) => {
    ok = false;
    out(line);
  };
  const { status, tables, heads } = await withAdminClient(url, async (q) => ({
    status: await migrationStatus(q, loadMigrations()),
    tables: await tableRowCounts(q),
    heads: await auditChainHeads(q),
  }));
  // Migrations: every one applied and unmodified, and the same set as when the backup was made.
  if (status.pending.length || status.modified.length)
    fail(
      `migrations: FAILED: pending ${status.pending.map((m) => m.version).join(', ') || 'none'}, modified ${status.modified.join(', ') || 'none'}`,
    );
  else if (status.applied.join(',') !== manifest.migrations.join(','))
    fail(
      `migrations: FAILED: applied ${status.applied.join(',')}, backup had ${manifest.migrations.join(',')}`,
    );
  else out(`migrations: OK, ${status.applied.length} applied`);
  // Row counts, table by table.
  const names = [...new Set([...Object.keys(manifest.tables), ...Object.keys(tables)])].sort();
  const differ = names.filter((n) => manifest.tables[n] !== tables[n]);
  for (const n of differ)
    fail(
      `rows: FAILED: ${n} has ${tables[n] ?? 'no table'}, backup had ${manifest.tables[n] ?? 'no table'}`,
    );
  if (!differ.length)
    out(
      `rows: OK, ${names.length} tables, ${Object.values(tables).reduce((a, b) => a + b, 0)} rows`,
    );
  // Audit chains: each intact, through the audit feature, and reaching the head of the backup.
  // The chains are read as the application role, under row-level security, as audit verify does.
  const { db } = await openDatabase({ ...cfg, DATABASE_URL: cfg.DATABASE_URL ?? url });
  try {
    const restored = new Set(heads.map((h) => h.tenantId));
    for (const h of manifest.auditHeads) {
      const name = h.slug ?? h.tenantId;
      if (!restored.has(h.tenantId)) {
        fail(`audit chain of ${name}: FAILED: missing after the restore`);
        continue;
      }
      const v = await verifyChain(
        db,
        h.tenantId,
        { seq: h.seq, hash: h.hash },
        { serverSecret: cfg.RAMPART_SECRET_KEY },
      );
      if ('missingHead' in v)
        fail(
          `audit chain of ${name}: FAILED: TRUNCATED, ${v.events} events, the backup's head ${h.seq}:${h.hash} is not in it`,
        );
      else if (!v.ok)
        fail(
          `audit chain of ${name}: FAILED: BROKEN at seq ${v.brokenAt.seq}: ${v.brokenAt.reason}`,
        );
      else if (v.events + (v.checkpoint?.seq ?? 0) !== h.seq)
        fail(`audit chain of ${name}: FAILED: ${v.events} events, the backup had ${h.seq}`);
      else out(`audit chain of ${name}: OK, ${v.events} events, head ${v.head}`);
    }
    for (const h of heads.filter(
      (x) => !manifest.auditHeads.some((m) => m.tenantId === x.tenantId),
    ))
      fail(`audit chain of ${h.slug ?? h.tenantId}: FAILED: not in the backup`);
  } finally {
    await db.close();
  }
  out(ok ? 'restore verified' : 'restore verification FAILED');
  return ok;
}
