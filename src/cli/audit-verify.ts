import type { Config } from '../config.js';
import { parseExpectedHead, verifyChain } from '../audit/service.js';
import { findTenantBySlug } from '../identity/index.js';
import { createRuntime } from '../runtime.js';
import { withAdminClient } from '../platform/db/pg-driver.js';
import { auditChainHeads } from './ops-store.js';

/** ", from checkpoint <seq>:<hash>" for a chain pruned by retention. */
function fromCheckpoint(cp: { seq: number; hash: string } | undefined): string {
  return cp ? ` after pruning checkpoint ${cp.seq}:${cp.hash}` : '';
}

/** `rampart audit verify`: recomputes a tenant's audit hash chain (exit codes in main.ts). */
export async function auditVerify(
  opts: { tenant?: string; expectHead?: string; all?: boolean },
  config: () => Config,
): Promise<void> {
  if (opts.all) {
    if (opts.tenant || opts.expectHead !== undefined) {
      process.stderr.write('rampart: audit verify --all takes no --tenant or --expect-head\n');
      process.exitCode = 2;
      return;
    }
    return verifyAll(config());
  }
  // Usage errors exit 2, like an unknown tenant, as documented (commander's own exit is 1).
  if (!opts.tenant) {
    process.stderr.write('rampart: audit verify needs --tenant <slug> or --all\n');
    process.exitCode = 2;
    return;
  }
  const expect = opts.expectHead === undefined ? undefined : parseExpectedHead(opts.expectHead);
  if (opts.expectHead !== undefined && !expect) {
    process.stderr.write(
      `rampart: --expect-head must be a chain head hash (64 hex digits) or seq:hash, not '${opts.expectHead}'\n`,
    );
    process.exitCode = 2;
    return;
  }
  const cfg = config();
  const rt = await createRuntime(cfg);
  try {
    // The explicit operator path into one tenant's data: whoever can run this CLI with the
    // database settings is the operator. The slug is resolved through the narrow SECURITY
    // DEFINER rampart_find_tenant (identifiers only), then verifyChain reads that one tenant's
    // chain inside withTenant, so RLS still confines the read to it. Verifying appends nothing
    // to the chain, so on PostgreSQL it can run against a read replica or a suspect copy.
    const tenant = await findTenantBySlug(rt.db, rt.serverSecret, opts.tenant);
    if (!tenant) {
      process.stderr.write(`rampart: no tenant with slug '${opts.tenant}'\n`);
      process.exitCode = 2;
      return;
    }
    const verdict = await verifyChain(rt.db, tenant.id, expect, { serverSecret: rt.serverSecret });
    if ('missingHead' in verdict) {
      const want = verdict.missingHead;
      process.stdout.write(
        `audit chain of ${tenant.slug}: TRUNCATED: intact, but head ${want.seq === undefined ? '' : `${want.seq}:`}${want.hash} is not in it; the chain ends after ${verdict.events} events at ${verdict.head} (newer events were removed)\n`,
      );
      process.exitCode = 1;
    } else if (verdict.ok) {
      process.stdout.write(
        `audit chain of ${tenant.slug}: OK, ${verdict.events} events${fromCheckpoint(verdict.checkpoint)}, head ${verdict.head}\n`,
      );
    } else {
      const b = verdict.brokenAt;
      process.stdout.write(
        `audit chain of ${tenant.slug}: BROKEN at event seq ${b.seq} (id ${b.id}): ${b.reason}; ${verdict.events} events before it verified\n`,
      );
      process.exitCode = 1;
    }
  } catch (err) {
    // Exit 1 means "the chain is broken"; a verification that could not run must not look like one.
    process.stderr.write(`rampart: audit verify could not run: ${(err as Error).message}\n`);
    process.exitCode = 3;
  } finally {
    await rt.close();
  }
}

/**
 * `rampart audit verify --all`: every tenant's chain (the system tenant's too). Listing the
 * chains reads across tenants, so it needs the owner (DATABASE_ADMIN_URL); each chain is then
 * verified as the application role inside that tenant, as for one tenant. Exit 1 when any
 * chain is broken, 3 when the check could not run.
 */
async function verifyAll(cfg: Config): Promise<void> {
  if (!cfg.DATABASE_ADMIN_URL || !cfg.DATABASE_URL) {
    process.stderr.write(
      'rampart: audit verify --all needs PostgreSQL with DATABASE_ADMIN_URL (to list every tenant) and DATABASE_URL; with the embedded database use --tenant <slug>\n',
    );
    process.exitCode = 2;
    return;
  }
  const rt = await createRuntime(cfg);
  try {
    const heads = await withAdminClient(cfg.DATABASE_ADMIN_URL, (q) => auditChainHeads(q));
    let broken = 0;
    for (const h of heads) {
      const name = h.slug ?? h.tenantId;
      const v = await verifyChain(rt.db, h.tenantId, undefined, { serverSecret: rt.serverSecret });
      if (v.ok)
        process.stdout.write(`audit chain of ${name}: OK, ${v.events} events, head ${v.head}\n`);
      else {
        broken += 1;
        const why =
          'brokenAt' in v
            ? `BROKEN at event seq ${v.brokenAt.seq}: ${v.brokenAt.reason}`
            : 'TRUNCATED';
        process.stdout.write(`audit chain of ${name}: ${why}\n`);
      }
    }
    process.stdout.write(`${heads.length} audit chains verified, ${broken} broken\n`);
    if (broken) process.exitCode = 1;
  } catch (err) {
    process.stderr.write(`rampart: audit verify could not run: ${(err as Error).message}\n`);
    process.exitCode = 3;
  } finally {
    await rt.close();
  }
}
