import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

// bin/rampart.js runs the TypeScript sources through bin/ts-hooks.js: this runs a fixture the
// same way, in a plain node process (vitest's own transform is not involved).
describe('bin/ts-hooks.js', () => {
  it('loads .ts through .js specifiers, without wrapping closures for their names, with source maps', () => {
    const hooks = pathToFileURL(resolve(ROOT, 'bin/ts-hooks.js')).href;
    const entry = pathToFileURL(resolve(ROOT, 'test/fixtures/ts-hooks/entry.ts')).href;
    const code = `
      import { register } from 'node:module';
      process.setSourceMapsEnabled(true);
      register(${JSON.stringify(hooks)});
      const m = await import(${JSON.stringify(entry)});
      process.stdout.write(JSON.stringify(m.report()));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { helper: string; outerSource: string; stack: string };
    expect(out.helper).toBe('from helper.ts');
    // Types are gone and no __name(…) call was added around the inner closure.
    expect(out.outerSource).toContain('const inner = () => 1');
    expect(out.outerSource).not.toContain('__name');
    // The stack names the .ts file and its own line, not the transformed code's.
    expect(out.stack).toMatch(/entry\.ts:16:\d+/);
  });

  it('caches each transformed file by its path and content: a second load reads the cache, an edit misses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-ts-cache-'));
    try {
      const cacheDir = join(dir, 'cache', 'ts');
      const entry = join(dir, 'mod.ts');
      const hooks = pathToFileURL(resolve(ROOT, 'bin/ts-hooks.js')).href;
      const load = () => {
        const code = `
          import { register } from 'node:module';
          register(${JSON.stringify(hooks)});
          const m = await import(${JSON.stringify(pathToFileURL(entry).href)});
          process.stdout.write(String(m.value));
        `;
        const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
          cwd: ROOT,
          encoding: 'utf8',
          env: { ...process.env, RAMPART_CACHE_DIR: join(dir, 'cache') },
        });
        expect(r.status, r.stderr).toBe(0);
        return r.stdout;
      };
      writeFileSync(entry, 'export const value: number = 1;\n');
      expect(load()).toBe('1');
      const first = readdirSync(cacheDir);
      expect(first).toHaveLength(1);
      // A cached file is what the next load runs: tampering with it shows.
      writeFileSync(join(cacheDir, first[0] ?? ''), 'export const value = 42;\n');
      expect(load()).toBe('42');
      // An edited source has a new key, so it is transformed again, never served stale.
      writeFileSync(entry, 'export const value: number = 2;\n');
      expect(load()).toBe('2');
      expect(readdirSync(cacheDir)).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bin/ts-run.js runs a .ts entry in a plain node process (how extraction processes start)', () => {
    const r = spawnSync(
      process.execPath,
      [resolve(ROOT, 'bin/ts-run.js'), resolve(ROOT, 'test/fixtures/ts-hooks/entry.ts')],
      { cwd: ROOT, encoding: 'utf8', env: {} },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
