/**
 * Checks the dependency direction of ARCHITECTURE.md on every TypeScript file under src/:
 *
 *  1. `src/platform/**` imports no feature folder (nor the composition root: app.ts, main.ts,
 *     runtime.ts); it may import other platform modules and src/config.ts.
 *  2. A feature's files never import another feature's store (`store.ts` or `*-store.ts`):
 *     features call each other's services, so every rule a service enforces stays enforced.
 *
 * Run by `npm run check` (`tsx scripts/check-deps.ts`), and by test/architecture.test.ts so
 * `npm test` enforces it too. Prints the violations and exits 1 when there are any.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

export interface Violation {
  /** Importing file, relative to the project root, with forward slashes. */
  file: string;
  /** The import specifier as written. */
  specifier: string;
  /** Imported file, relative to the project root. */
  target: string;
  rule: 'platform-imports-feature' | 'cross-feature-store';
  message: string;
}

/** Folders directly under src/ that are not features. */
const PLATFORM = 'platform';
/** Modules platform code may import from the src/ root (types and settings, no wiring). */
const ROOT_MODULES_ALLOWED_IN_PLATFORM = new Set(['config.ts']);

function listTsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listTsFiles(path));
    else if (/\.(c|m)?tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Every module specifier a file mentions: static imports, `export … from`, dynamic import(). */
export function importSpecifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/** The source file a relative specifier points at (NodeNext: `./x.js` is `./x.ts`). */
function resolveRelative(fromFile: string, specifier: string): string {
  const abs = resolve(dirname(fromFile), specifier);
  return abs.replace(/\.(c|m)?js$/, (ext) => ext.replace('js', 'ts'));
}

/** Splits a path under src/ into its top-level part: a folder name, or a root file name. */
function topLevel(srcDir: string, file: string): { area: string; isDir: boolean } | undefined {
  const rel = relative(srcDir, file);
  if (rel.startsWith('..') || rel === '') return undefined;
  const parts = rel.split(sep);
  return { area: parts[0] as string, isDir: parts.length > 1 };
}

function isStoreFile(file: string): boolean {
  const base = file.split(sep).pop() ?? '';
  return /^(.+-)?store\.(c|m)?tsx?$/.test(base);
}

/** Returns every dependency-direction violation under `<root>/src`. */
export function checkDependencies(root: string): Violation[] {
  const srcDir = join(root, 'src');
  const violations: Violation[] = [];
  const show = (p: string) => relative(root, p).split(sep).join('/');

  for (const file of listTsFiles(srcDir)) {
    const from = topLevel(srcDir, file);
    if (!from?.isDir) continue; // the composition root (app.ts, main.ts, …) may import anything
    for (const specifier of importSpecifiers(readFileSync(file, 'utf8'))) {
      if (!specifier.startsWith('.')) continue; // packages and node: builtins
      const target = resolveRelative(file, specifier);
      const to = topLevel(srcDir, target);
      if (!to) continue;

      if (from.area === PLATFORM && to.area !== PLATFORM) {
        if (!to.isDir && ROOT_MODULES_ALLOWED_IN_PLATFORM.has(to.area)) continue;
        violations.push({
          file: show(file),
          specifier,
          target: show(target),
          rule: 'platform-imports-feature',
          message: to.isDir
            ? `platform code imports the feature '${to.area}'`
            : `platform code imports the composition root '${to.area}'`,
        });
      } else if (
        from.area !== PLATFORM &&
        to.isDir &&
        to.area !== PLATFORM &&
        to.area !== from.area &&
        isStoreFile(target)
      ) {
        violations.push({
          file: show(file),
          specifier,
          target: show(target),
          rule: 'cross-feature-store',
          message: `feature '${from.area}' imports feature '${to.area}''s store; call its service instead`,
        });
      }
    }
  }
  return violations.sort(
    (a, b) => a.file.localeCompare(b.file) || a.target.localeCompare(b.target),
  );
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;

if (isMain) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const violations = checkDependencies(root);
  if (violations.length) {
    process.stderr.write(
      `check-deps: ${violations.length} dependency-direction violation(s) (see ARCHITECTURE.md, Layout):\n` +
        violations.map((v) => `  ${v.file} → ${v.target} (${v.rule}): ${v.message}\n`).join(''),
    );
    process.exit(1);
  }
  process.stdout.write('check-deps: dependency direction OK\n');
}
