/** A source row as the API shows it, and its parsed settings (annotations, policies, catalogue). */
import type { z } from 'zod';
import type { Catalogue } from './connector.js';
import { connectionOf } from './source-connection.js';
import {
  Annotations,
  CatalogueSchema,
  type CatalogueView,
  Policies,
  type SourceView,
} from './schemas.js';
import type { SourceRow } from './sources-store.js';

export function toView(row: SourceRow, hasPassword: boolean): SourceView {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    connection: connectionOf(row),
    hasPassword,
    schemas: row.schemas,
    tables: row.tables,
    description: row.description,
    modelAlias: row.model_alias,
    schemaRefreshedAt: row.catalogue_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function annotationsOf(row: SourceRow): Annotations {
  const parsed = Annotations.safeParse(row.annotations);
  return parsed.success ? parsed.data : { tables: {}, columns: {}, examples: [] };
}

export function policiesOf(row: SourceRow): Policies {
  const parsed = Policies.safeParse(row.policies);
  return parsed.success ? parsed.data : { rowFilters: [], masks: [] };
}

export function parseCatalogue(v: unknown): Catalogue | undefined {
  const parsed = CatalogueSchema.safeParse(v);
  return parsed.success ? parsed.data : undefined;
}

/** The catalogue as GET …/schema shows it, with the admins' descriptions merged in. */
export function describeCatalogue(
  row: SourceRow,
  catalogue: Catalogue,
  at: Date,
): z.infer<typeof CatalogueView> {
  const notes = annotationsOf(row);
  return {
    source: row.id,
    refreshedAt: at.toISOString(),
    tables: catalogue.tables.map((t) => {
      const key = `${t.schema}.${t.name}`;
      const description = notes.tables[key] ?? notes.tables[t.name];
      return {
        ...t,
        ...(description ? { description } : {}),
        columns: t.columns.map((c) => {
          const d = notes.columns[`${key}.${c.name}`] ?? notes.columns[`${t.name}.${c.name}`];
          return d ? { ...c, description: d } : c;
        }),
      };
    }),
  };
}
