import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkDependencies, importSpecifiers, sqlCallLines } from '../scripts/check-deps.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

describe('dependency direction (ARCHITECTURE.md)', () => {
  it('holds for this repository: platform imports no feature, features meet only through their doors, SQL only in stores and platform', () => {
    expect(checkDependencies(root)).toEqual([]);
  });

  describe('the checker', () => {
    const fixture = mkdtempSync(join(tmpdir(), 'rampart-deps-'));
    const write = (path: string, body: string) => {
      const full = join(fixture, 'src', path);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, body);
    };
    write('config.ts', 'export const settings = {};\n');
    write('app.ts', "import { x } from './audit/store.js';\nexport const y = x;\n");
    write('platform/db/database.ts', "import type { Config } from '../../config.js';\n");
    write('platform/http/route.ts', "import { can } from '../../identity/permissions.js';\n");
    write('platform/http/boot.ts', "export { buildApp } from '../../app.js';\n");
    write('audit/store.ts', 'export const x = 1;\n');
    write('audit/service.ts', "import { x } from './store.js';\nexport const s = x;\n");
    write('identity/keys-store.ts', 'export const k = 1;\n');
    write('identity/tenants-service.ts', "import { s } from '../audit/service.js';\n");
    write('identity/bad.ts', "const m = await import('../audit/store.js');\n");
    write('gateway/usage.ts', "import { k } from '../identity/keys-store.js';\n");
    write('gateway/index.ts', 'export const g = 1;\n');
    write('gateway/limits/schema.ts', 'export const l = 1;\n');
    write('gateway/invoke-service.ts', 'export const i = 1;\n');
    write(
      'knowledge/answer.ts',
      [
        "import { g } from '../gateway/index.js';",
        "import { i } from '../gateway/invoke-service.js';",
        "import type { L } from '../gateway/limits/schema.js';",
        "import { s } from '../audit/service.js';",
      ].join('\n'),
    );
    const sql = 'export const q = (tx) => tx.query(`SELECT 1`);\n';
    write('knowledge/settings.ts', sql);
    write('knowledge/settings-store.ts', sql);
    write('knowledge/settings.test.ts', sql);
    // The composition root (root files and src/cli/) goes through the same doors.
    write('main.ts', "const c = await import('./cli/serve.js');\n");
    write(
      'cli/serve.ts',
      "import { y } from '../app.js';\nimport { l } from '../gateway/limits/schema.js';\n",
    );
    write('platform/db/roles.ts', 'export const r = (q) => q.exec(`SET ROLE x`);\n');
    // A leaf feature (webhooks) may import audit's door, and no other feature.
    write(
      'webhooks/outbox.ts',
      "import { s } from '../audit/service.js';\nimport { g } from '../gateway/index.js';\n",
    );
    afterAll(() => rmSync(fixture, { recursive: true, force: true }));

    it('reports exactly the violations of a tree that breaks every rule', () => {
      const found = checkDependencies(fixture).map((v) => [v.file, v.target, v.rule]);
      expect(found).toEqual([
        ['src/app.ts', 'src/audit/store.ts', 'cross-feature-store'],
        ['src/cli/serve.ts', 'src/gateway/limits/schema.ts', 'cross-feature-internal'],
        ['src/gateway/usage.ts', 'src/identity/keys-store.ts', 'cross-feature-store'],
        ['src/identity/bad.ts', 'src/audit/store.ts', 'cross-feature-store'],
        ['src/knowledge/answer.ts', 'src/gateway/limits/schema.ts', 'cross-feature-internal'],
        ['src/knowledge/settings.ts', 'src/knowledge/settings.ts:1', 'sql-outside-store'],
        ['src/platform/http/boot.ts', 'src/app.ts', 'platform-imports-feature'],
        ['src/platform/http/route.ts', 'src/identity/permissions.ts', 'platform-imports-feature'],
        ['src/webhooks/outbox.ts', 'src/gateway/index.ts', 'leaf-imports-feature'],
      ]);
    });
  });

  it('sees static, re-exported, type-only and dynamic imports', () => {
    const src = [
      "import a from './a.js';",
      "import type { B } from './b.js';",
      "export * from './c.js';",
      "const d = await import('./d.js');",
    ].join('\n');
    expect(importSpecifiers(src)).toEqual(['./a.js', './b.js', './c.js', './d.js']);
  });

  it('finds SQL calls, not regular expressions or a Redis MULTI', () => {
    const src = [
      'const HEADING = /^h([1-6])$/;',
      "const m = HEADING.exec('h1');",
      "const n = /^x$/.exec('x');",
      'await multi.exec();',
      "await tx.query<{ n: number }>('SELECT 1');",
      "await admin.exec('BEGIN');",
      'const shown = request.query;',
    ].join('\n');
    expect(sqlCallLines(src)).toEqual([5, 6]);
  });
});
