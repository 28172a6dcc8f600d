import type { Config } from '../config.js';
import { findTenantBySlug } from '../identity/index.js';
import { AppError } from '../platform/http/errors.js';
import { createRuntime } from '../runtime.js';
import { formatReconstruction, RequestRecordService } from '../governance/requests-service.js';

/**
 * `rampart audit reconstruct --tenant <slug> --request <id>`: prints what produced an answer,
 * flagging cited chunks changed or deleted since. Exit 0 all cited content unchanged, 1 some
 * flagged, 2 unknown tenant, unknown request or usage error, 3 could not run. `--json` prints
 * the record as GET /v1/requests/:requestId returns it.
 */
export async function auditReconstruct(
  opts: { tenant?: string; request?: string; json?: boolean },
  config: () => Config,
): Promise<void> {
  if (!opts.tenant || !opts.request) {
    process.stderr.write('rampart: audit reconstruct needs --tenant <slug> and --request <id>\n');
    process.exitCode = 2;
    return;
  }
  const rt = await createRuntime(config());
  try {
    // The operator's explicit path into one tenant, as for audit verify: the slug resolves
    // through rampart_find_tenant, then the record is read under RLS confined to that tenant.
    const tenant = await findTenantBySlug(rt.db, rt.serverSecret, opts.tenant);
    if (!tenant) {
      process.stderr.write(`rampart: no tenant with slug '${opts.tenant}'\n`);
      process.exitCode = 2;
      return;
    }
    const records = new RequestRecordService(rt.db);
    let r;
    try {
      r = await records.reconstructForTenant(tenant.id, opts.request);
    } catch (err) {
      if (err instanceof AppError && err.status === 404) {
        process.stderr.write(`rampart: no request record '${opts.request}' in ${tenant.slug}\n`);
        process.exitCode = 2;
        return;
      }
      throw err;
    }
    process.stdout.write(
      opts.json ? `${JSON.stringify(r, null, 2)}\n` : formatReconstruction(tenant.slug, r),
    );
    if (r.flagged.length > 0) process.exitCode = 1;
  } catch (err) {
    process.stderr.write(`rampart: audit reconstruct could not run: ${(err as Error).message}\n`);
    process.exitCode = 3;
  } finally {
    await rt.close();
  }
}
