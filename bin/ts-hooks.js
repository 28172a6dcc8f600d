// Node module hooks that run Rampart's TypeScript sources without a build step (decision 002).
// Each .ts file is transformed when it is loaded, with esbuild, file by file (types stripped, as
// tsc's isolatedModules allows); a relative `.js` import from a .ts file finds the .ts file
// beside it (NodeNext style). Unlike tsx's loader, names are not re-attached to every function
// the code creates (esbuild's keepNames wraps each closure in a call that defines its `name`,
// about 250 ns a closure, and a gateway request creates dozens).
//
// Transformed files are cached in node_modules/.cache/rampart/ts (RAMPART_CACHE_DIR/ts), keyed
// by the file's path and content and the esbuild and Node versions, so a start-up after the
// first (and after `npm install`, which warms the cache: scripts/postinstall.js) reads
// JavaScript instead of transforming. An edited file has a new key; a cache that cannot be written (a read-only
// install) only costs the transform.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TS_FILE = /\.[cm]?ts$/;
const JS_SPECIFIER = /\.([cm]?)js$/;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CACHE_DIR = join(
  process.env.RAMPART_CACHE_DIR || join(ROOT, 'node_modules/.cache/rampart'),
  'ts',
);
// Bump when the transform options below change.
const FORMAT = 1;
let salt;
let esbuild;

function cacheSalt() {
  if (salt === undefined) {
    const pkg = createRequire(import.meta.url).resolve('esbuild/package.json');
    const { version } = JSON.parse(readFileSync(pkg, 'utf8'));
    salt = `${FORMAT}\0${version}\0${process.versions.node}\0`;
  }
  return salt;
}

/** The JavaScript for a TypeScript file, from the cache or transformed (and then cached). */
export async function transformCached(path, source) {
  const key = createHash('sha256').update(cacheSalt()).update(path).update('\0').update(source);
  const file = join(CACHE_DIR, `${key.digest('hex').slice(0, 40)}.js`);
  try {
    return readFileSync(file, 'utf8');
  } catch {
    // Not cached yet.
  }
  esbuild ??= await import('esbuild');
  const { code } = esbuild.transformSync(source, {
    loader: 'ts',
    format: path.endsWith('.cts') ? 'cjs' : 'esm',
    target: `node${process.versions.node}`,
    // Stack traces name the .ts file and line (bin/rampart.js turns source maps on).
    sourcemap: 'inline',
    sourcefile: path,
  });
  try {
    mkdirSync(CACHE_DIR, { recursive: true });
    // Written beside and renamed, so a concurrent reader never sees half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, file);
  } catch {
    // A read-only install: transform every time.
  }
  return code;
}

export async function resolve(specifier, context, next) {
  const parent = context.parentURL;
  if (
    parent?.startsWith('file:') &&
    TS_FILE.test(parent) &&
    (specifier.startsWith('./') || specifier.startsWith('../')) &&
    JS_SPECIFIER.test(specifier)
  ) {
    const asJs = new URL(specifier, parent);
    const asTs = new URL(specifier.replace(JS_SPECIFIER, '.$1ts'), parent);
    if (!existsSync(fileURLToPath(asJs)) && existsSync(fileURLToPath(asTs)))
      return next(asTs.href, context);
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !TS_FILE.test(url)) return next(url, context);
  const path = fileURLToPath(url);
  const source = await transformCached(path, readFileSync(path, 'utf8'));
  return { format: url.endsWith('.cts') ? 'commonjs' : 'module', source, shortCircuit: true };
}
