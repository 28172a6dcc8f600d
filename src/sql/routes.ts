import { z } from 'zod';
import { route, type AnyRoute } from '../platform/http/route.js';
import type { SqlQueryService } from './query-service.js';
import {
  Annotations,
  AskBody,
  AskResult,
  CatalogueView,
  CreateSourceBody,
  PatchSourceBody,
  Policies,
  QueryBody,
  QueryResult,
  SourceParams,
  SourceView,
} from './schemas.js';
import type { SourceService } from './sources-service.js';

/** The text-to-SQL API: sources (sql:manage), queries and questions (sql:query). */
export function sqlRoutes(sources: SourceService, queries: SqlQueryService): AnyRoute[] {
  const tags = ['sql'];
  return [
    route({
      method: 'POST',
      url: '/v1/sql/sources',
      auth: 'tenant',
      permission: 'sql:manage',
      summary:
        'Register a PostgreSQL or MySQL/MariaDB database (its login must be read-only), or the embedded sample (`type: "sample"`).',
      tags,
      body: CreateSourceBody,
      status: 201,
      response: { 201: SourceView },
      handler: ({ principal, body, meta }) => sources.create(principal, body, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/sql/sources',
      auth: 'tenant',
      permission: 'sql:query',
      summary: "The tenant's SQL sources (never their passwords).",
      tags,
      response: { 200: z.object({ data: z.array(SourceView) }) },
      handler: async ({ principal }) => ({ data: await sources.list(principal) }),
    }),
    route({
      method: 'GET',
      url: '/v1/sql/sources/:id',
      auth: 'tenant',
      permission: 'sql:query',
      summary: 'One SQL source, by id or name.',
      tags,
      params: SourceParams,
      response: { 200: SourceView },
      handler: ({ principal, params }) => sources.get(principal, params.id),
    }),
    route({
      method: 'PATCH',
      url: '/v1/sql/sources/:id',
      auth: 'tenant',
      permission: 'sql:manage',
      summary: 'Change a source; a new connection or password is checked read-only first.',
      tags,
      params: SourceParams,
      body: PatchSourceBody,
      response: { 200: SourceView },
      handler: ({ principal, params, body, meta }) =>
        sources.patch(principal, params.id, body, meta),
    }),
    route({
      method: 'DELETE',
      url: '/v1/sql/sources/:id',
      auth: 'tenant',
      permission: 'sql:manage',
      summary: 'Remove a source (its stored password with it).',
      tags,
      params: SourceParams,
      status: 204,
      handler: ({ principal, params, meta }) => sources.remove(principal, params.id, meta),
    }),
    route({
      method: 'GET',
      url: '/v1/sql/sources/:id/schema',
      auth: 'tenant',
      permission: 'sql:query',
      summary:
        "Tables, columns, types, keys, comments, row estimates and sample values of a source (introspected on first use), with the admins' descriptions.",
      tags,
      params: SourceParams,
      response: { 200: CatalogueView },
      handler: async ({ principal, params }) => {
        const src = await sources.open(principal, params.id);
        const { catalogue, at } = await sources.catalogue(principal, src);
        return sources.describe(src.row, catalogue, at);
      },
    }),
    route({
      method: 'POST',
      url: '/v1/sql/sources/:id/schema/refresh',
      auth: 'tenant',
      permission: 'sql:manage',
      summary: "Introspect the source's schema again.",
      tags,
      params: SourceParams,
      response: { 200: CatalogueView },
      handler: async ({ principal, params, meta }) => {
        const src = await sources.open(principal, params.id);
        const { catalogue, at } = await sources.refresh(principal, src, meta);
        return sources.describe(src.row, catalogue, at);
      },
    }),
    route({
      method: 'GET',
      url: '/v1/sql/sources/:id/annotations',
      auth: 'tenant',
      permission: 'sql:manage',
      summary: "The source's annotations as last written (empty when none).",
      tags,
      params: SourceParams,
      response: { 200: Annotations },
      handler: ({ principal, params }) => sources.annotations(principal, params.id),
    }),
    route({
      method: 'GET',
      url: '/v1/sql/sources/:id/policies',
      auth: 'tenant',
      permission: 'sql:manage',
      summary: "The source's row filters and column masks as last written (empty when none).",
      tags,
      params: SourceParams,
      response: { 200: Policies },
      handler: ({ principal, params }) => sources.policies(principal, params.id),
    }),
    route({
      method: 'PUT',
      url: '/v1/sql/sources/:id/annotations',
      auth: 'tenant',
      permission: 'sql:manage',
      summary:
        'Descriptions of tables and columns and example question → SQL pairs, used in /v1/sql/ask prompts.',
      tags,
      params: SourceParams,
      body: Annotations,
      response: { 200: Annotations },
      handler: ({ principal, params, body, meta }) =>
        sources.putAnnotations(principal, params.id, body, meta),
    }),
    route({
      method: 'PUT',
      url: '/v1/sql/sources/:id/policies',
      auth: 'tenant',
      permission: 'sql:manage',
      summary:
        'Row filters per group and column masks (with the groups that see the column), applied by rewriting the parse tree of every query.',
      tags,
      params: SourceParams,
      body: Policies,
      response: { 200: Policies },
      handler: ({ principal, params, body, meta }) =>
        sources.putPolicies(principal, params.id, body, meta, (row, p) =>
          queries.checkPolicies(row, p),
        ),
    }),
    route({
      method: 'POST',
      url: '/v1/sql/query',
      auth: 'tenant',
      permission: 'sql:query',
      summary:
        'Validate one SELECT on the parse tree and run it read-only on a source; refusals are 422 with a code and the offending part.',
      tags,
      body: QueryBody,
      response: { 200: QueryResult },
      handler: ({ principal, body, meta }) => queries.execute(principal, body, meta),
    }),
    route({
      method: 'POST',
      url: '/v1/sql/ask',
      auth: 'tenant',
      permission: 'sql:query',
      summary:
        "Answer a question from a source: SQL written by the source's model alias through the gateway, validated, executed (one repair round on a database error).",
      tags,
      body: AskBody,
      response: { 200: AskResult },
      handler: ({ principal, body, meta }) => queries.ask(principal, body, meta),
    }),
  ];
}
