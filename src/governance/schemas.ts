import { z } from 'zod';
import { DATA_CLASSES } from './registry.js';

const Tag = z.string().min(1).max(100);

const ClassPolicy = z.object({
  /** Rows older than this many days are deleted by the next sweep. */
  days: z.number().int().min(1).max(36_500),
  /** `documents` only: delete only documents carrying any of these tags (none: every document). */
  tags: z.array(Tag).max(50).optional(),
});

/** Classes to set (a policy), clear (null: keep forever) or leave as they are (omitted). */
export const PutRetentionBody = z
  .object(
    Object.fromEntries(DATA_CLASSES.map((c) => [c, ClassPolicy.nullable().optional()])) as Record<
      (typeof DATA_CLASSES)[number],
      z.ZodOptional<z.ZodNullable<typeof ClassPolicy>>
    >,
  )
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'name at least one data class');
export type PutRetentionInput = z.infer<typeof PutRetentionBody>;

export const RetentionClassView = z.object({
  name: z.enum(DATA_CLASSES),
  description: z.string(),
  /** null: no policy, kept until deleted. */
  days: z.number().nullable(),
  tags: z.array(z.string()),
  /** The tables the class deletes from; empty when its table is not part of this build yet. */
  tables: z.array(z.string()),
  updatedAt: z.string().nullable(),
});

export const SweepView = z.object({
  id: z.uuid(),
  periodStart: z.string(),
  state: z.string(),
  deleted: z.record(z.string(), z.unknown()),
  error: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});

export const RetentionView = z.object({
  classes: z.array(RetentionClassView),
  /** The operator's floor for the audit class (RETENTION_AUDIT_FLOOR_DAYS). */
  auditFloorDays: z.number(),
  /** The most recent sweeps, newest first. */
  sweeps: z.array(SweepView),
});
export type RetentionView = z.infer<typeof RetentionView>;

export const PutHoldBody = z
  .object({
    scope: z.enum(['tenant', 'user', 'document']),
    /** The user's or document's id; omitted for a tenant-wide hold. */
    subjectId: z.uuid().optional(),
    reason: z.string().min(1).max(1000),
  })
  .strict()
  .refine((b) => (b.scope === 'tenant') === (b.subjectId === undefined), {
    message: 'subjectId is required for a user or document hold, and not allowed for a tenant hold',
    path: ['subjectId'],
  });
export type PutHoldInput = z.infer<typeof PutHoldBody>;

export const HoldView = z.object({
  id: z.uuid(),
  scope: z.enum(['tenant', 'user', 'document']),
  subjectId: z.string().nullable(),
  reason: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
});
export type HoldView = z.infer<typeof HoldView>;

export const TenantIdParams = z.object({ id: z.uuid() });
export const HoldIdParams = z.object({ id: z.uuid() });

export const OffboardingView = z.object({
  tenantId: z.string(),
  /** disabled: within the grace period (restorable); purging: deletion under way; purged: gone. */
  status: z.enum(['disabled', 'purging', 'purged']),
  disabledAt: z.string(),
  purgeAfter: z.string(),
  purgedAt: z.string().nullable(),
  /** Rows deleted per table (purging and purged). */
  deleted: z.record(z.string(), z.number()),
});
export type OffboardingView = z.infer<typeof OffboardingView>;
