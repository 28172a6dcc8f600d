import { z } from 'zod';

const Name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _ . - (max 64)');
const Ident = z.string().min(1).max(128);
const TableName = z
  .string()
  .regex(/^[^.\s]+(\.[^.\s]+)?$/, '`table` or `schema.table`')
  .max(260);

export const SourceType = z.enum(['postgres', 'mysql', 'sample']);

export const CreateSourceBody = z
  .object({
    name: Name,
    type: SourceType,
    url: z
      .string()
      .max(2000)
      .optional()
      .describe('postgres://user:password@host:5432/db or mysql://…'),
    host: z.string().min(1).max(255).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    database: Ident.optional(),
    user: Ident.optional(),
    password: z.string().max(1000).optional(),
    ssl: z.boolean().optional(),
    schemas: z.array(Ident).min(1).max(50).optional(),
    tables: z.array(TableName).min(1).max(2000).optional(),
    description: z.string().max(2000).optional(),
    modelAlias: z.string().min(1).max(128).optional(),
  })
  .strict();
export type CreateSourceInput = z.infer<typeof CreateSourceBody>;

export const PatchSourceBody = CreateSourceBody.omit({ type: true })
  .partial()
  .extend({ tables: z.array(TableName).min(1).max(2000).nullable().optional() })
  .strict();
export type PatchSourceInput = z.infer<typeof PatchSourceBody>;

export const SourceView = z.object({
  id: z.string(),
  name: z.string(),
  type: SourceType,
  connection: z.object({
    host: z.string().optional(),
    port: z.number().optional(),
    database: z.string().optional(),
    user: z.string().optional(),
    ssl: z.boolean().optional(),
  }),
  hasPassword: z.boolean(),
  schemas: z.array(z.string()),
  tables: z.array(z.string()).nullable(),
  description: z.string(),
  modelAlias: z.string(),
  schemaRefreshedAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type SourceView = z.infer<typeof SourceView>;

export const SourceParams = z.object({ id: z.string().min(1).max(100) });

const CatalogueColumn = z.object({
  name: z.string(),
  type: z.string(),
  nullable: z.boolean(),
  comment: z.string().optional(),
  description: z.string().optional(),
  values: z.array(z.string()).optional(),
});
export const CatalogueSchema = z.object({
  tables: z.array(
    z.object({
      schema: z.string(),
      name: z.string(),
      comment: z.string().optional(),
      description: z.string().optional(),
      rowEstimate: z.number(),
      columns: z.array(CatalogueColumn),
      primaryKey: z.array(z.string()),
      foreignKeys: z.array(
        z.object({
          columns: z.array(z.string()),
          references: z.object({ table: z.string(), columns: z.array(z.string()) }),
        }),
      ),
    }),
  ),
});

export const CatalogueView = CatalogueSchema.extend({
  source: z.string(),
  refreshedAt: z.string(),
});

export const Annotations = z
  .object({
    tables: z.record(z.string().max(260), z.string().max(2000)).default({}),
    columns: z.record(z.string().max(400), z.string().max(2000)).default({}),
    examples: z
      .array(z.object({ question: z.string().min(1).max(2000), sql: z.string().min(1).max(20000) }))
      .max(200)
      .default([]),
  })
  .strict();
export type Annotations = z.infer<typeof Annotations>;

export const Policies = z
  .object({
    rowFilters: z
      .array(
        z.object({
          table: TableName,
          group: z.string().min(1).max(200),
          where: z.string().min(1).max(4000),
        }),
      )
      .max(200)
      .default([]),
    masks: z
      .array(
        z.object({
          table: TableName,
          column: Ident,
          exceptGroups: z.array(z.string().min(1).max(200)).max(50).default([]),
        }),
      )
      .max(500)
      .default([]),
  })
  .strict();
export type Policies = z.infer<typeof Policies>;

export const QueryBody = z
  .object({
    source: z.string().min(1).max(100).describe('Source id or name.'),
    sql: z.string().min(1).max(100_000),
    limit: z.number().int().min(1).max(100_000).optional(),
  })
  .strict();
export type QueryInput = z.infer<typeof QueryBody>;

export const QueryResult = z.object({
  columns: z.array(z.object({ name: z.string(), type: z.string() })),
  rows: z.array(z.array(z.unknown())),
  rowCount: z.number(),
  truncated: z.boolean(),
  sql: z.string(),
  durationMs: z.number(),
});
export type QueryResult = z.infer<typeof QueryResult>;

export const AskBody = z
  .object({
    source: z.string().min(1).max(100),
    question: z.string().min(1).max(4000),
    execute: z.boolean().default(true),
  })
  .strict();
export type AskInput = z.input<typeof AskBody>;

export const AskResult = z.object({
  sql: z.string(),
  explanation: z.string(),
  columns: z.array(z.object({ name: z.string(), type: z.string() })),
  rows: z.array(z.array(z.unknown())),
  rowCount: z.number(),
  truncated: z.boolean(),
  attempts: z.number(),
  usage: z.object({ promptTokens: z.number(), completionTokens: z.number() }),
});
export type AskResult = z.infer<typeof AskResult>;
