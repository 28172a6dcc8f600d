// `npm install` runs this (postinstall) to make the first `npm start` fast; it never fails the
// install: a problem here only costs start-up time, and says so.
//  1. Transforms every source file the server loads into the module hooks' cache
//     (bin/ts-hooks.js), so start-up reads JavaScript instead of transforming ~170 files.
//  2. Builds the migrated embedded-database template (src/platform/db/embedded-template.ts), so
//     a new data directory is a copy instead of initdb plus every migration.
//  3. Builds the web console (web/ -> web/dist, scripts/build-web.ts), which the server serves at
//     `/`; without it `npm start` builds it first (its prestart).
import { register } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const warn = (what, err) =>
  process.stderr.write(`rampart: could not ${what} (${err.message}); start-up will be slower\n`);

try {
  const { transformCached } = await import('../bin/ts-hooks.js');
  const src = fileURLToPath(new URL('../src', import.meta.url));
  const files = readdirSync(src, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.[cm]?ts$/.test(e.name) && !/\.test\.[cm]?ts$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
  for (const path of files) await transformCached(path, readFileSync(path, 'utf8'));
} catch (err) {
  warn('warm the TypeScript cache', err);
}

try {
  register('../bin/ts-hooks.js', import.meta.url);
  const { buildTemplate } = await import('../src/platform/db/embedded-template.ts');
  // RAMPART_CACHE_DIR (as the server reads it) moves both caches; unset, node_modules/.cache/rampart.
  await buildTemplate(process.env.RAMPART_CACHE_DIR || undefined);
} catch (err) {
  warn('build the embedded database template', err);
}

try {
  const { buildConsole, initialJsGzipBytes } = await import('./build-web.ts');
  await buildConsole();
  const kb = (initialJsGzipBytes() / 1024).toFixed(1);
  process.stdout.write(`rampart: web console built (initial JavaScript ${kb} KB gzipped)\n`);
} catch (err) {
  process.stderr.write(
    `rampart: could not build the web console (${err.message}); npm start will try again\n`,
  );
}
