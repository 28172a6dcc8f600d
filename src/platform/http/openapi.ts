import { jsonSchemaTransform } from 'fastify-type-provider-zod';

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];
type TransformOutput = ReturnType<typeof jsonSchemaTransform>;

/**
 * The OpenAPI transform: the zod provider's, plus the multipart form of a route that declares
 * `form` (registerRoutes puts it in the schema as `form`). Fastify validates such a form with the
 * route's one `body` schema after @fastify/multipart turns it into fields, so the JSON body alone
 * would describe an upload as `application/json`; here the request body gets both media types,
 * the form with its file part as binary.
 */
export function openapiTransform(input: TransformInput): TransformOutput {
  const { form, ...schema }: TransformInput['schema'] & { form?: unknown } = input.schema;
  const out = jsonSchemaTransform({ ...input, schema });
  if (form === undefined || out.schema.body === undefined) return out;
  const formJson = jsonSchemaTransform({ ...input, schema: { body: form } }).schema.body;
  return {
    ...out,
    schema: {
      ...out.schema,
      body: {
        content: {
          'application/json': { schema: out.schema.body },
          'multipart/form-data': { schema: formJson },
        },
      },
    },
  };
}
