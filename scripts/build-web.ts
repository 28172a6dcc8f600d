/**
 * Builds the web console (web/ with Vite) into web/dist, which the server serves at `/`, and
 * prints the initial JavaScript a browser loads before the first page (gzipped).
 *   npm run build:web             build
 *   tsx scripts/build-web.ts --if-missing   build only when web/dist has no index.html (npm start)
 * The postinstall runs the build, so `npm install` leaves a built console.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

export const WEB_DIR = resolve(import.meta.dirname, '../web');
export const WEB_DIST = join(WEB_DIR, 'dist');
/** The budget of issue #27: the scripts of the first page, gzipped. */
export const INITIAL_JS_BUDGET_BYTES = 250 * 1024;

export function consoleBuilt(dist: string = WEB_DIST): boolean {
  return existsSync(join(dist, 'index.html'));
}

/** Runs Vite's production build of web/ into web/dist (or another folder). */
export async function buildConsole(outDir: string = WEB_DIST): Promise<void> {
  const { build } = await import('vite');
  // Always a production bundle: under a test runner NODE_ENV is `test`, and Vite and the React
  // plugin would otherwise emit development JSX (jsxDEV), which the production React bundled
  // with it cannot run: the page stays blank.
  const previous = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      configFile: join(WEB_DIR, 'vite.config.ts'),
      mode: 'production',
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true },
    });
  } finally {
    if (previous === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = previous;
  }
}

/**
 * The scripts index.html loads before any route's own chunk: its module entry and the chunks
 * it preloads, with their gzipped sizes. Route chunks (import()) are not counted.
 */
export function initialScripts(dist: string = WEB_DIST): { file: string; gzipBytes: number }[] {
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const refs = [
    ...html.matchAll(/<script[^>]+src="\/([^"]+\.js)"/g),
    ...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="\/([^"]+\.js)"/g),
  ].map((m) => m[1] ?? '');
  return [...new Set(refs)].map((file) => ({
    file,
    gzipBytes: gzipSync(readFileSync(join(dist, file)), { level: 9 }).length,
  }));
}

export function initialJsGzipBytes(dist: string = WEB_DIST): number {
  return initialScripts(dist).reduce((n, s) => n + s.gzipBytes, 0);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (!(process.argv.includes('--if-missing') && consoleBuilt())) {
    const started = Date.now();
    await buildConsole();
    process.stdout.write(
      `console built into web/dist in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
  }
  const bytes = initialJsGzipBytes();
  process.stdout.write(
    `console initial JavaScript: ${(bytes / 1024).toFixed(1)} KB gzipped (budget ${INITIAL_JS_BUDGET_BYTES / 1024} KB)\n`,
  );
  if (bytes > INITIAL_JS_BUDGET_BYTES) process.exitCode = 1;
}
