import { z } from 'zod';
import { safeString } from './safe-string.js';

/**
 * The `limits` object of POST/PATCH /v1/api-keys and PUT /v1/limits. Absent = unlimited. A wire
 * shape both identity (a key's limits) and the gateway (which enforces them) use, so it lives in
 * platform/ rather than in either feature; what the limits mean stays in gateway/limits/.
 */
export const LimitsSchema = z.strictObject({
  rpm: z.number().int().positive().optional(),
  tpm: z.number().int().positive().optional(),
  concurrency: z.number().int().positive().optional(),
  budgetUsd: z.number().positive().optional(),
  budgetPeriod: z.enum(['day', 'month']).optional(),
});
export type Limits = z.infer<typeof LimitsSchema>;

export const ModelsSchema = z.array(safeString().min(1).max(128)).max(200);
