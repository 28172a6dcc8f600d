import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AppError } from './errors.js';
import { setPageFallback } from './problem.js';

/** Where `npm install` (or `npm start`) leaves the built console (web/ built by Vite). */
export const CONSOLE_DIST = fileURLToPath(new URL('../../../web/dist/', import.meta.url));

/**
 * Paths the console never answers, however unknown the rest of the path: an API client that
 * mistypes a route gets the API's 404, never the console's HTML.
 */
export const RESERVED_PREFIXES = [
  '/v1',
  '/admin',
  '/auth',
  '/oauth',
  '/scim',
  '/mcp',
  '/metrics',
  '/healthz',
  '/readyz',
  '/openapi.json',
  '/docs',
  '/assets',
] as const;

/**
 * The page's policy: scripts only from this origin (the hashed bundle; nothing inline), no
 * plugins, no framing. Inline styles stay allowed: the component library and the charts set
 * style attributes and CSS variables at run time, which carries no script.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};
// Vite names every asset `name-<hash>.ext`: a flat name, so no path can leave the folder.
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,200}$/;

/** True when `path` (without its query) is a console page rather than an API or asset path. */
export function isConsolePage(path: string): boolean {
  if (RESERVED_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`))) return false;
  // A file-like last segment (favicon.ico, robots.txt) is not a page: answer 404, not HTML.
  return !/\.[A-Za-z0-9]{1,8}$/.test(path);
}

function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache');
}

function notFound(method: string, path: string): AppError {
  return new AppError(404, 'route_not_found', `No route ${method} ${path}.`);
}

/**
 * Serves the web console: `/assets/*` with a year's immutable cache (the names carry content
 * hashes), and index.html under the strict CSP at `/` and at every path that is not reserved
 * for the API (the SPA's own routes). Without a build it says how to make one.
 */
export function registerConsole(app: FastifyInstance, dir: string = CONSOLE_DIST): void {
  let index: Promise<string> | undefined;
  const indexHtml = (): Promise<string> => {
    // Re-read until a build exists, so `npm run build:web` beside a running server is enough.
    index ??= readFile(join(dir, 'index.html'), 'utf8').catch((err: unknown) => {
      index = undefined;
      throw err;
    });
    return index;
  };

  app.get<{ Params: { name: string } }>(
    '/assets/:name',
    { schema: { hide: true } },
    async (request, reply) => {
      const { name } = request.params;
      const type = TYPES[extname(name)];
      if (!ASSET_NAME.test(name) || !type) throw notFound('GET', `/assets/${name}`);
      let body: Buffer;
      try {
        body = await readFile(join(dir, 'assets', name));
      } catch {
        throw notFound('GET', `/assets/${name}`);
      }
      return reply
        .type(type)
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('x-content-type-options', 'nosniff')
        .send(body);
    },
  );

  const page = async (path: string, reply: FastifyReply): Promise<FastifyReply> => {
    if (!isConsolePage(path)) throw notFound('GET', path);
    let html: string;
    try {
      html = await indexHtml();
    } catch {
      throw new AppError(
        503,
        'console_not_built',
        'The web console is not built: run `npm run build:web` (npm install and npm start do it).',
      );
    }
    return pageHeaders(reply).type('text/html; charset=utf-8').send(html);
  };
  app.get('/', { schema: { hide: true } }, (_request, reply) => page('/', reply));
  // The SPA's own paths: any other GET no route matched, unless reserved for the API.
  setPageFallback(app, (path, reply) => (isConsolePage(path) ? page(path, reply) : undefined));
}
