import { z } from 'zod';
import { safeString } from '../platform/http/safe-string.js';
import { ROLES } from './permissions.js';
import { LimitsSchema, ModelsSchema } from '../platform/http/limits-schema.js';

export const Uuid = z.uuid();
export const IdParams = z.object({ id: Uuid });
export const GroupName = safeString().regex(
  /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/,
  'letters, digits and _.:- (max 64), starting with a letter or digit',
);
export const RoleSchema = z.enum(ROLES);

export const CreateTenantBody = z.strictObject({
  slug: safeString().regex(
    /^[a-z0-9][a-z0-9-]{1,62}$/,
    'lowercase letters, digits and hyphens, 2-63 characters, not starting with a hyphen',
  ),
  name: safeString().trim().min(1).max(200),
});
export const TenantSchema = z.object({ id: z.string(), slug: z.string(), name: z.string() });

export const ApiKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  role: z.string(),
  groups: z.array(z.string()),
  userId: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
/** One key with its gateway policy (GET/PATCH /v1/api-keys/:id, POST /v1/api-keys). */
export const ApiKeyDetailSchema = ApiKeySchema.extend({
  models: z
    .array(z.string())
    .nullable()
    .meta({ description: 'The model aliases this key may call; null: every model.' }),
  limits: LimitsSchema.meta({
    description: "The key's own limits; an absent field is unlimited (tenant limits still apply).",
  }),
});

export const CreateApiKeyBody = z.strictObject({
  name: safeString().trim().min(1).max(200),
  role: RoleSchema,
  groups: z.array(GroupName).max(100).optional(),
  expiresAt: z.iso
    .datetime({ offset: true })
    .transform((s) => new Date(s))
    .optional(),
  userId: Uuid.optional(),
  // Gateway: the model aliases this key may call (absent: all) and its own limits.
  models: ModelsSchema.optional(),
  limits: LimitsSchema.optional(),
});
export const PatchApiKeyBody = z
  .strictObject({
    name: safeString().trim().min(1).max(200).optional(),
    role: RoleSchema.optional(),
    groups: z.array(GroupName).max(100).optional(),
    models: ModelsSchema.nullable().optional(),
    limits: LimitsSchema.optional(),
  })
  .refine(
    (b) => Object.keys(b).length > 0,
    'at least one of name, role, groups, models, limits is required',
  );

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: safeString().max(512).optional(),
});

export const UserIdParams = z.object({ id: Uuid, userId: Uuid });
export const Email = safeString().trim().toLowerCase().max(320).pipe(z.email());

export const CreateUserBody = z.strictObject({
  email: Email,
  displayName: safeString().trim().max(200).optional(),
  role: RoleSchema,
});
export const PatchUserBody = z.strictObject({ role: RoleSchema });
export const UserSchema = z.object({
  id: z.string(),
  email: z.string(),
  displayName: z.string(),
  role: z.string(),
  groups: z.array(z.string()),
  joinedAt: z.string(),
});

export const CreateGroupBody = z.strictObject({ name: GroupName });
export const GroupSchema = z.object({
  id: z.string(),
  name: z.string(),
  memberCount: z.number(),
  createdAt: z.string(),
});
export const GroupDetailSchema = GroupSchema.extend({
  members: z.array(z.object({ id: z.string(), email: z.string(), displayName: z.string() })),
});
