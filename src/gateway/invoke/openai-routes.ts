import type { FastifyReply } from 'fastify';
import { route, type AnyRoute } from '../../platform/http/route.js';
import type { GatewayService } from './invoke-service.js';
import type { ChatRequest } from '../providers/types.js';
import { ChatCompletionBody, EmbeddingsBody } from './schemas.js';
import { CACHE_HEADER, readCacheDirective } from '../cache/directive.js';
import { ClientCancel } from './cancel.js';

const tags = ['gateway'];
/** Time spent in Rampart, excluding the upstream call that answered (ms). */
const OVERHEAD_HEADER = 'x-rampart-overhead-ms';

/** Aborts the upstream call when the client goes away before the response is complete. */
function abortOnDisconnect(reply: FastifyReply): ClientCancel {
  const cancel = new ClientCancel();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) cancel.abort();
  });
  return cancel;
}

/** A JSON answer: the upstream's own text when it is relayed unchanged, else the object. */
function jsonBody(
  reply: FastifyReply,
  result: { body: Record<string, unknown>; raw?: string | undefined },
): Record<string, unknown> | string {
  if (result.raw === undefined) return result.body;
  // A string with a JSON content type goes out as it is (Fastify serializes only objects).
  reply.type('application/json; charset=utf-8');
  return result.raw;
}

/** The OpenAI-compatible surface: errors in OpenAI's `{ error: {…} }` shape. */
export function gatewayOpenAIRoutes(gateway: GatewayService): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/v1/chat/completions',
      auth: 'tenant',
      permission: 'gateway:invoke',
      errorShape: 'openai',
      summary: 'OpenAI-compatible chat completions (streaming with stream: true).',
      tags,
      body: ChatCompletionBody,
      handler: async ({ principal, body, meta, reply, request }) => {
        const result = await gateway.chat(
          principal,
          body as ChatRequest,
          meta,
          abortOnDisconnect(reply),
          readCacheDirective(request.headers),
        );
        reply.header(OVERHEAD_HEADER, result.overheadMs.toFixed(3));
        // Streams too: headers go out before the first byte of the body.
        if (result.rateLimitHeaders) reply.headers(result.rateLimitHeaders);
        if (result.kind === 'json') {
          if (result.cache) reply.header(CACHE_HEADER, result.cache);
          return jsonBody(reply, result);
        }
        reply.header('content-type', 'text/event-stream; charset=utf-8');
        reply.header('cache-control', 'no-cache');
        reply.header('x-accel-buffering', 'no');
        return result.stream;
      },
    }),
    route({
      method: 'POST',
      url: '/v1/embeddings',
      auth: 'tenant',
      permission: 'gateway:invoke',
      errorShape: 'openai',
      summary: 'OpenAI-compatible embeddings.',
      tags,
      body: EmbeddingsBody,
      handler: async ({ principal, body, meta, reply, request }) => {
        const result = await gateway.embeddings(
          principal,
          body,
          meta,
          abortOnDisconnect(reply),
          readCacheDirective(request.headers),
        );
        if (result.cache) reply.header(CACHE_HEADER, result.cache);
        reply.header(OVERHEAD_HEADER, result.overheadMs.toFixed(3));
        if (result.rateLimitHeaders) reply.headers(result.rateLimitHeaders);
        return jsonBody(reply, result);
      },
    }),
    route({
      method: 'GET',
      url: '/v1/models',
      auth: 'tenant',
      permission: 'gateway:invoke',
      errorShape: 'openai',
      summary: 'The model aliases this key may call.',
      tags,
      handler: ({ principal }) => gateway.models(principal),
    }),
  ];
}
