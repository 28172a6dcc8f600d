import { z } from 'zod';
import { auditSuccess } from '../audit/service.js';
import type { Database } from '../platform/db/database.js';
import type { Principal, RequestMeta } from '../platform/http/principal.js';
import { selectDataPolicy, upsertDataPolicy, type DataPolicySettings } from './requests-store.js';

/** A tenant's governance data policy (decision 020); a tenant that set none gets the defaults. */
export const DataPolicySchema = z.object({
  /** Request records keep the rendered prompt (the messages sent); off: template id and version only. */
  storeRenderedPrompts: z.boolean(),
  /**
   * Every provider not marked selfHosted masks e-mails, phone numbers, SSNs, card numbers and
   * IBANs in prompts, whatever its own dataPolicy says.
   */
  requirePiiRedaction: z.boolean(),
});
export const DataPolicyPatch = DataPolicySchema.partial()
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'at least one field is required');

/** GET/PUT /v1/governance/data-policy. */
export class DataPolicyService {
  constructor(
    private readonly db: Database,
    /** Called after a committed change (this instance's gateway config cache drops the tenant). */
    private readonly onChanged: (tenantId: string) => void = () => undefined,
  ) {}

  get(principal: Principal): Promise<DataPolicySettings> {
    return this.db.withTenant(principal, (tx) => selectDataPolicy(tx));
  }

  async update(
    principal: Principal,
    patch: Partial<DataPolicySettings>,
    meta: RequestMeta,
  ): Promise<DataPolicySettings> {
    const out = await this.db.withTenant(principal, async (tx) => {
      const before = await selectDataPolicy(tx);
      const after = { ...before, ...patch };
      await upsertDataPolicy(tx, after);
      await auditSuccess(
        tx,
        principal,
        meta,
        'governance_data_policy.updated',
        { type: 'tenant', id: principal.tenantId },
        { before, after },
      );
      return after;
    });
    this.onChanged(principal.tenantId);
    return out;
  }
}
