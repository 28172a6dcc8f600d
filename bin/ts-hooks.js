// Node module hooks that run Rampart's TypeScript sources without a build step (decision 002).
// Each .ts file is transformed when it is loaded, with esbuild, file by file (types stripped, as
// tsc's isolatedModules allows); a relative `.js` import from a .ts file finds the .ts file
// beside it (NodeNext style). Unlike tsx's loader, names are not re-attached to every function
// the code creates (esbuild's keepNames wraps each closure in a call that defines its `name`,
// about 250 ns a closure, and a gateway request creates dozens).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';

const TS_FILE = /\.[cm]?ts$/;
const JS_SPECIFIER = /\.([cm]?)js$/;

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
  const { code } = transformSync(readFileSync(path, 'utf8'), {
    loader: 'ts',
    format: url.endsWith('.cts') ? 'cjs' : 'esm',
    target: `node${process.versions.node}`,
    // Stack traces name the .ts file and line (bin/rampart.js turns source maps on).
    sourcemap: 'inline',
    sourcefile: path,
  });
  return { format: url.endsWith('.cts') ? 'commonjs' : 'module', source: code, shortCircuit: true };
}
