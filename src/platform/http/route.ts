import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { WebSocket } from 'ws';
import type { z } from 'zod';
import { Forbidden } from './errors.js';
import type { Permission } from './permissions-catalogue.js';
import type { OperatorPrincipal, Principal, RequestMeta } from './principal.js';
import { rejectUnstorableInput } from './safe-string.js';

export type ErrorShape = 'problem' | 'openai' | 'scim' | 'oauth';
type Infer<T> = T extends z.ZodType ? z.output<T> : undefined;
export type AuthMode = 'tenant' | 'operator' | 'none';
type PrincipalFor<A extends AuthMode> = [A] extends ['tenant']
  ? Principal
  : [A] extends ['operator']
    ? OperatorPrincipal
    : undefined;

export interface HandlerContext<A extends AuthMode, B, P, Q> {
  principal: PrincipalFor<A>;
  body: B;
  params: P;
  query: Q;
  meta: RequestMeta;
  request: FastifyRequest;
  reply: FastifyReply;
}

/** One endpoint: schemas, the permission it needs, and a handler that only calls a service. */
export interface RouteSpec<A extends AuthMode, B, P, Q> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  auth: A;
  /** Required for tenant routes, from the catalogue (a typo does not compile); checked before the handler runs. */
  permission: [A] extends ['tenant'] ? Permission : undefined;
  summary: string;
  tags?: string[];
  body?: B;
  /**
   * The multipart/form-data form the route also accepts, for the OpenAPI document only: the
   * parsed form is validated with `body` (see knowledge/uploads.ts).
   */
  form?: z.ZodType;
  params?: P;
  query?: Q;
  /** Success status (default 200; 204 sends no body). */
  status?: number;
  response?: Record<number, z.ZodType>;
  /** Error body format: RFC 9457 problem (default), OpenAI's `{ error: {…} }`, or SCIM's (RFC 7644 §3.12). */
  errorShape?: ErrorShape;
  bodyLimit?: number;
  /** Hidden from the OpenAPI document. */
  hide?: boolean;
  handler(ctx: HandlerContext<A, Infer<B>, Infer<P>, Infer<Q>>): unknown;
  /**
   * GET only: the WebSocket an upgrade request gets, after authentication and the permission
   * check (a refused upgrade is answered with the problem response); a plain GET gets `handler`.
   */
  websocket?(
    socket: WebSocket,
    ctx: Pick<
      HandlerContext<A, Infer<B>, Infer<P>, Infer<Q>>,
      'principal' | 'query' | 'meta' | 'request'
    >,
  ): void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a heterogeneous list of specs; each was type-checked by route()
export type AnyRoute = RouteSpec<any, any, any, any>;

/** What a registered handler receives, before its spec's own types narrow it. */
type ValidatedContext = Omit<HandlerContext<AuthMode, unknown, unknown, unknown>, 'principal'> & {
  principal: Principal | OperatorPrincipal | undefined;
};

/** Declares a route; the identity function exists so each spec is type-checked against its own schemas. */
export function route<
  const A extends AuthMode,
  B extends z.ZodType | undefined = undefined,
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
>(spec: RouteSpec<A, B, P, Q>): RouteSpec<A, B, P, Q> {
  return spec;
}

/** How requests are authenticated; provided by identity/ so platform/ imports no feature. */
export interface Authenticator {
  tenant(request: FastifyRequest, meta: RequestMeta): Promise<Principal>;
  operator(request: FastifyRequest): Promise<OperatorPrincipal>;
  /** Called when a verified principal lacks the route's permission (for the audit log). */
  denied(
    principal: Principal,
    permission: Permission,
    request: FastifyRequest,
    meta: RequestMeta,
  ): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    errorShape?: ErrorShape;
  }
}

export function requestMeta(request: FastifyRequest, reply?: FastifyReply): RequestMeta {
  return {
    requestId: String(request.id),
    ip: request.ip,
    // Fastify clocks a request from its arrival: overhead figures then include parsing and auth.
    receivedAt: reply ? performance.now() - reply.elapsedTime : undefined,
  };
}

/** The specs registered on each Fastify instance, for tests that walk every route. */
const registered = new WeakMap<FastifyInstance, AnyRoute[]>();

/** The route specs `registerRoutes` put on `app`, in registration order. */
export function registeredRoutes(app: FastifyInstance): readonly AnyRoute[] {
  return registered.get(app) ?? [];
}

/** The upgrade handler of a WebSocket route: its principal was set by the route's onRequest. */
function websocketHandler(spec: AnyRoute) {
  return (socket: WebSocket, request: FastifyRequest): void => {
    const principal: Principal | OperatorPrincipal | undefined =
      spec.auth === 'tenant'
        ? request.principal
        : spec.auth === 'operator'
          ? { kind: 'operator' }
          : undefined;
    // As for `handler`: route() type-checked the spec against its own auth mode.
    const open = spec.websocket as
      | ((
          s: WebSocket,
          ctx: Pick<ValidatedContext, 'principal' | 'query' | 'meta' | 'request'>,
        ) => void)
      | undefined;
    open?.(socket, { principal, query: request.query, meta: requestMeta(request), request });
  };
}

/** Registers route specs on a Fastify instance with authentication and the permission check. */
export function registerRoutes(
  app: FastifyInstance,
  auth: Authenticator,
  routes: readonly AnyRoute[],
): void {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  const list = registered.get(app) ?? [];
  registered.set(app, list);
  for (const spec of routes) {
    list.push(spec);
    const schema: Record<string, unknown> = { summary: spec.summary, tags: spec.tags ?? [] };
    if (spec.body) schema.body = spec.body;
    if (spec.form) schema.form = spec.form; // read by openapiTransform (openapi.ts)
    if (spec.params) schema.params = spec.params;
    if (spec.query) schema.querystring = spec.query;
    if (spec.response) schema.response = spec.response;
    if (spec.auth !== 'none') schema.security = [{ bearer: [] }];
    if (spec.hide) schema.hide = true;
    typed.route({
      method: spec.method,
      url: spec.url,
      schema,
      config: { errorShape: spec.errorShape ?? 'problem' },
      ...(spec.bodyLimit ? { bodyLimit: spec.bodyLimit } : {}),
      ...(spec.websocket ? { wsHandler: websocketHandler(spec) } : {}),
      // Authentication runs before body parsing and validation: an anonymous caller learns
      // nothing about a route's schema and cannot make the server parse a large body.
      onRequest: async (request) => {
        if (spec.auth === 'tenant') {
          const meta = requestMeta(request);
          const principal = await auth.tenant(request, meta);
          request.principal = principal;
          const permission: Permission = spec.permission;
          if (!principal.permissions.has(permission)) {
            await auth.denied(principal, permission, request, meta);
            throw new Forbidden(
              `This credential lacks the '${permission}' permission.`,
              'permission_denied',
            );
          }
        } else if (spec.auth === 'operator') {
          await auth.operator(request);
        }
      },
      // Every route, whatever its schema says: strings PostgreSQL cannot store are a 400 here.
      preValidation: async (request) => rejectUnstorableInput(request),
      handler: async (request, reply) => {
        const principal: Principal | OperatorPrincipal | undefined =
          spec.auth === 'tenant'
            ? request.principal
            : spec.auth === 'operator'
              ? { kind: 'operator' }
              : undefined;
        // route() type-checked each spec's handler against its own auth mode and schemas; the
        // principal above is the one spec.auth names, and Fastify validated body, params and
        // query with the spec's schemas before this runs.
        const handler = spec.handler as (ctx: ValidatedContext) => unknown;
        const result = await handler({
          principal,
          body: request.body,
          params: request.params,
          query: request.query,
          meta: requestMeta(request, reply),
          request,
          reply,
        });
        if (reply.sent) return reply;
        reply.code(spec.status ?? 200);
        return spec.status === 204 ? reply.send() : result;
      },
    });
  }
}
