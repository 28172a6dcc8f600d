import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError } from './errors.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string;
  instance?: string;
  [extra: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

const OPENAI_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
};

/** Fastify's own 4xx errors, as our codes and messages (a client never sees an FST_* code). */
const FRAMEWORK_ERRORS: Record<string, [number, string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large', 'Request body is too large.'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type', 'Unsupported Content-Type.'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_input', 'body: a JSON body is required'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'malformed_json', 'Body is not valid JSON.'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [
    400,
    'bad_request',
    'The Content-Length header does not match the body.',
  ],
  FST_ERR_BAD_URL: [400, 'bad_url', 'The request path is not a valid URL (bad percent-encoding).'],
  FST_ERR_ASYNC_CONSTRAINT: [400, 'bad_request', 'The request does not match a route.'],
};
const STATUS_CODES: Record<number, string> = {
  400: 'bad_request',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  431: 'headers_too_large',
};

interface FieldError {
  field: string;
  message: string;
}

/** Normalises anything thrown into an AppError; unknown errors become an opaque 500. */
export function toAppError(err: unknown): { error: AppError; internal: boolean } {
  if (err instanceof AppError) return { error: err, internal: false };
  const fe = err as FastifyError & { validationContext?: string };
  if (hasZodFastifySchemaValidationErrors(fe)) {
    // Name fields as clients write them: body.x, query.x, params.x.
    const where =
      fe.validationContext === 'querystring' ? 'query' : (fe.validationContext ?? 'body');
    const errors: FieldError[] = fe.validation.map((v) => {
      const path = v.instancePath.replace(/^\//, '').replaceAll('/', '.');
      return { field: path ? `${where}.${path}` : where, message: v.message ?? 'is invalid' };
    });
    const first = errors[0];
    const detail = first ? `${first.field}: ${first.message}` : `Invalid ${where}.`;
    return { error: new AppError(400, 'invalid_input', detail, { errors }), internal: false };
  }
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const known = FRAMEWORK_ERRORS[fe.code];
    if (known) return { error: new AppError(known[0], known[1], known[2]), internal: false };
    // Any other framework error keeps its status but gets one of our codes, never FST_*.
    return {
      error: new AppError(fe.statusCode, STATUS_CODES[fe.statusCode] ?? 'bad_request', fe.message),
      internal: false,
    };
  }
  return {
    error: new AppError(500, 'internal', 'Internal error. Quote the request id when reporting it.'),
    internal: true,
  };
}

export function problemBody(error: AppError, request: FastifyRequest): Problem {
  return {
    type: `urn:rampart:problem:${error.code}`,
    title: TITLES[error.status] ?? 'Error',
    status: error.status,
    detail: error.message,
    code: error.code,
    requestId: String(request.id),
    instance: request.url.split('?')[0],
    ...error.extra,
  };
}

export function openAIErrorBody(error: AppError): {
  error: { message: string; type: string; code: string; param: string | null };
} {
  const errors = error.extra.errors as FieldError[] | undefined;
  return {
    error: {
      message: error.message,
      type:
        OPENAI_TYPES[error.status] ?? (error.status >= 500 ? 'api_error' : 'invalid_request_error'),
      code: error.code,
      param: errors?.[0]?.field.replace(/^body\./, '') ?? null,
    },
  };
}

/** SCIM's error `scimType` values (RFC 7644 §3.12): an error whose code is one of them carries it. */
const SCIM_TYPES = new Set([
  'invalidFilter',
  'tooMany',
  'uniqueness',
  'mutability',
  'invalidSyntax',
  'invalidPath',
  'noTarget',
  'invalidValue',
  'invalidVers',
  'sensitive',
]);

export function scimErrorBody(error: AppError): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
    status: String(error.status),
    ...(SCIM_TYPES.has(error.code) ? { scimType: error.code } : {}),
    detail: error.message,
  };
}

/** OAuth's error codes (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 8707, RFC 7009): sent as they are. */
const OAUTH_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'unsupported_token_type',
  'invalid_scope',
  'invalid_target',
  'invalid_redirect_uri',
  'invalid_client_metadata',
]);

/** The OAuth error JSON (`error`, `error_description`); any other failure in OAuth's terms. */
export function oauthErrorBody(error: AppError): { error: string; error_description: string } {
  const code = OAUTH_ERRORS.has(error.code)
    ? error.code
    : error.status >= 500
      ? 'server_error'
      : error.status === 429
        ? 'temporarily_unavailable'
        : 'invalid_request';
  return { error: code, error_description: error.message };
}

function send(error: AppError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.code(error.status);
  for (const [k, v] of Object.entries(error.headers)) reply.header(k, v);
  const shape = request.routeOptions.config?.errorShape;
  if (shape === 'openai') {
    return reply.type('application/json; charset=utf-8').send(openAIErrorBody(error));
  }
  if (shape === 'oauth') {
    return reply
      .header('cache-control', 'no-store')
      .type('application/json; charset=utf-8')
      .send(oauthErrorBody(error));
  }
  if (shape === 'scim') {
    return reply.type('application/scim+json; charset=utf-8').send(scimErrorBody(error));
  }
  return reply.type('application/problem+json; charset=utf-8').send(problemBody(error, request));
}

/** Sends any thrown error as problem+json (or the OpenAI shape); logs the unexpected ones. */
export function sendError(
  err: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const { error, internal } = toAppError(err);
  if (internal) request.log.error({ err }, 'unhandled error');
  return send(error, request, reply);
}

/** Answers a GET no route matched with a page, or undefined to leave it a 404. */
export type PageFallback = (path: string, reply: FastifyReply) => Promise<FastifyReply> | undefined;
const pageFallbacks = new WeakMap<FastifyInstance, PageFallback>();

/**
 * Lets the 404 handler answer unmatched GETs with a page (the web console's client-side paths).
 * A fallback rather than a `GET /*` route: an unknown path stays unmatched to the router, the
 * request log and the metrics, whatever answers it.
 */
export function setPageFallback(app: FastifyInstance, fallback: PageFallback): void {
  pageFallbacks.set(app, fallback);
}

/** The one mapping from thrown errors to HTTP responses. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(sendError);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const page = request.method === 'GET' ? pageFallbacks.get(app)?.(path, reply) : undefined;
    if (page) return page;
    return send(
      new AppError(404, 'route_not_found', `No route ${request.method} ${path}.`),
      request,
      reply,
    );
  });
}
