/**
 * Checks the dependency direction and boundaries of ARCHITECTURE.md on every TypeScript file
 * under src/:
 *
 *  1. `src/platform/**` imports no feature folder (nor the composition root: app.ts, main.ts,
 *     runtime.ts); it may import other platform modules and src/config.ts.
 *  2. A feature's files never import another feature's store (`store.ts` or `*-store.ts`):
 *     features call each other's services, so every rule a service enforces stays enforced.
 *  3. A feature reaches another only through its doors: `index.ts`, `service.ts` or
 *     `*-service.ts` (type-only imports included: a type is part of a door too). The
 *     composition root (the files directly under src/: app.ts, main.ts, jobs.ts, …) and the
 *     command implementations in src/cli/ go through the same doors.
 *  4. SQL runs (`.query(…)`, `.exec(…)`) only in store files and platform/; tests are exempt.
 *  5. A leaf feature (webhooks: knowledge and copilot call its outbox inside their own
 *     transactions) imports no other feature but the few listed for it, so no cycle can form.
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
  rule:
    | 'platform-imports-feature'
    | 'cross-feature-store'
    | 'cross-feature-internal'
    | 'sql-outside-store'
    | 'leaf-imports-feature';
  message: string;
}

/** Folders directly under src/ that are not features. */
const PLATFORM = 'platform';
/** The folder of the composition root's command implementations. */
const COMPOSITION_DIR = 'cli';
/** Modules platform code may import from the src/ root (types and settings, no wiring). */
const ROOT_MODULES_ALLOWED_IN_PLATFORM = new Set(['config.ts']);
/** Leaf features and the only features each may import (through their doors). */
const LEAF_FEATURES: Readonly<Record<string, ReadonlySet<string>>> = {
  webhooks: new Set(['audit']),
};

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
  // src/cli/ holds the commands main.ts starts: part of the composition root, not a feature.
  if (parts[0] === COMPOSITION_DIR) return { area: rel, isDir: false };
  return { area: parts[0] as string, isDir: parts.length > 1 };
}

function isStoreFile(file: string): boolean {
  const base = file.split(sep).pop() ?? '';
  return /^(.+-)?store\.(c|m)?tsx?$/.test(base);
}

/** A feature's doors: the files another feature may import. */
function isFeatureEntry(file: string): boolean {
  const base = file.split(sep).pop() ?? '';
  return /^(index|service|.+-service)\.(c|m)?tsx?$/.test(base);
}

function isTestFile(file: string): boolean {
  return /\.test\.(c|m)?tsx?$/.test(file);
}

/**
 * Lines (1-based) where `source` runs SQL: a call of a `.query` or `.exec` method. Regular
 * expressions' `exec` is not SQL: a call on a regex literal, or on a name this file binds to
 * one, is skipped, and so is `exec()` without arguments (a Redis MULTI).
 */
export function sqlCallLines(source: string, fileName = 'file.ts'): number[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const regexNames = new Set<string>();
  const calls: ts.CallExpression[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.initializer &&
      (ts.isRegularExpressionLiteral(node.initializer) ||
        (ts.isNewExpression(node.initializer) &&
          node.initializer.expression.getText(sf) === 'RegExp'))
    )
      regexNames.add(node.name.text);
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      (node.expression.name.text === 'query' || node.expression.name.text === 'exec')
    )
      calls.push(node);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  const lines = new Set<number>();
  for (const call of calls) {
    const access = call.expression as ts.PropertyAccessExpression;
    if (access.name.text === 'exec') {
      const receiver = access.expression;
      if (call.arguments.length === 0) continue;
      if (ts.isRegularExpressionLiteral(receiver)) continue;
      if (ts.isIdentifier(receiver) && regexNames.has(receiver.text)) continue;
    }
    lines.add(sf.getLineAndCharacterOfPosition(call.getStart(sf)).line + 1);
  }
  return [...lines].sort((a, b) => a - b);
}

/** Returns every dependency-direction and boundary violation under `<root>/src`. */
export function checkDependencies(root: string): Violation[] {
  const srcDir = join(root, 'src');
  const violations: Violation[] = [];
  const show = (p: string) => relative(root, p).split(sep).join('/');

  for (const file of listTsFiles(srcDir)) {
    const from = topLevel(srcDir, file);
    const source = readFileSync(file, 'utf8');
    if (from?.area !== PLATFORM && !isStoreFile(file) && !isTestFile(file)) {
      for (const line of sqlCallLines(source, file)) {
        violations.push({
          file: show(file),
          specifier: '',
          target: `${show(file)}:${line}`,
          rule: 'sql-outside-store',
          message: 'runs SQL outside a store; move the statement into a *store.ts function',
        });
      }
    }
    if (!from) continue;
    for (const specifier of importSpecifiers(source)) {
      if (!specifier.startsWith('.')) continue; // packages and node: builtins
      const target = resolveRelative(file, specifier);
      const to = topLevel(srcDir, target);
      if (!to) continue;

      const leafAllows = LEAF_FEATURES[from.area];
      if (
        leafAllows &&
        to.isDir &&
        to.area !== PLATFORM &&
        to.area !== from.area &&
        !leafAllows.has(to.area)
      ) {
        violations.push({
          file: show(file),
          specifier,
          target: show(target),
          rule: 'leaf-imports-feature',
          message: `leaf feature '${from.area}' imports feature '${to.area}'; other features call it, not the other way round`,
        });
        continue;
      }
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
      } else if (
        from.area !== PLATFORM &&
        to.isDir &&
        to.area !== PLATFORM &&
        to.area !== from.area &&
        !isFeatureEntry(target)
      ) {
        violations.push({
          file: show(file),
          specifier,
          target: show(target),
          rule: 'cross-feature-internal',
          message: `feature '${from.area}' imports an internal module of feature '${to.area}'; import its index.ts or a *service.ts`,
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
      `check-deps: ${violations.length} dependency or boundary violation(s) (see ARCHITECTURE.md, Layout):\n` +
        violations
          .map((v) =>
            v.rule === 'sql-outside-store'
              ? `  ${v.target} (${v.rule}): ${v.message}\n`
              : `  ${v.file} → ${v.target} (${v.rule}): ${v.message}\n`,
          )
          .join(''),
    );
    process.exit(1);
  }
  process.stdout.write('check-deps: dependency direction and boundaries OK\n');
}
