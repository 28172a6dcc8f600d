import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { settings } from '../src/config.js';
import {
  END_MARKER,
  SETTINGS_PAGE,
  START_MARKER,
  extractSettingsSection,
  renderSettingsPage,
  settingsTable,
} from '../scripts/gen-settings-table.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
const configuration = readFileSync(resolve(root, SETTINGS_PAGE), 'utf8');
const operations = readFileSync(resolve(root, 'docs/operations.md'), 'utf8');
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
};

describe('the settings page (docs/configuration.md)', () => {
  it('documents every setting exactly as src/config.ts declares it (run `npm run docs:settings`)', () => {
    expect(SETTINGS_PAGE).toBe('docs/configuration.md');
    expect(extractSettingsSection(configuration)).toBe(settingsTable());
  });

  it('has one table row per setting, secret ones naming their _FILE variant', () => {
    const rows = settingsTable().split('\n').slice(2);
    expect(rows).toHaveLength(Object.keys(settings).length);
    for (const [name, def] of Object.entries(settings)) {
      const row = rows.find((r) => r.startsWith(`| \`${name}\``));
      expect(row, name).toBeDefined();
      const secret = 'secret' in def && def.secret === true;
      expect(row?.includes(`\`${name}_FILE\``), name).toBe(secret);
    }
  });

  it('regenerating a stale table replaces only the marked section', () => {
    const stale = `# T\n\n${START_MARKER}\n| old |\n${END_MARKER}\n\nafter\n`;
    const out = renderSettingsPage(stale);
    expect(out).toBe(`# T\n\n${START_MARKER}\n${settingsTable()}\n${END_MARKER}\n\nafter\n`);
    expect(renderSettingsPage(out)).toBe(out);
  });
});

describe('README', () => {
  it('stays short enough to read: at most about 18,000 characters, details in docs/', () => {
    expect(readme.length).toBeLessThanOrEqual(18_000);
    for (const page of ['api', 'configuration', 'operations', 'benchmarks', 'knowledge'])
      expect(readme).toContain(`](docs/${page}.md)`);
  });

  it('operations.md says what a server database needs beyond the embedded one: the master key and a worker', () => {
    const section = /## Running against PostgreSQL and Redis\n([\s\S]*?)\n## /.exec(
      operations,
    )?.[1];
    expect(section).toBeDefined();
    // Without the key a tenant cannot store a provider (503 master_key_missing, see
    // test/gateway-rotation.test.ts); without a worker nothing is ingested (serve runs no jobs).
    expect(section).toContain('export RAMPART_MASTER_KEY=');
    expect(section).toContain('master_key_missing');
    expect(section).toMatch(/^npx rampart worker$/m);
  });

  it('gives the two-command quick start, and both commands exist in package.json', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
    expect(pkg.scripts.start).toContain('serve');
    expect(pkg.scripts.test).toBeDefined();
  });
});

/** Every file under `dir` (relative to the repository root) whose name ends with `suffix`. */
function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(resolve(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(suffix))
    .map((f) => join(dir, f));
}

/** The relative targets of the Markdown links `[text](target)` in `markdown`, without anchors. */
function relativeLinks(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] ?? '')
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith('#'))
    .map((target) => target.split('#')[0] ?? '');
}

describe('the repository is self-contained', () => {
  it('README and docs/ link only to files that exist inside the repository', () => {
    const docs = ['README.md', ...filesUnder('docs', '.md')];
    const broken: string[] = [];
    for (const doc of docs) {
      for (const target of relativeLinks(readFileSync(resolve(root, doc), 'utf8'))) {
        const full = resolve(root, dirname(doc), target);
        const inside = !relative(root, full).startsWith('..');
        if (!inside || !existsSync(full)) broken.push(`${doc} -> ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('README names no Markdown document that is not in the repository', () => {
    const named = [...readme.matchAll(/`([^`\s]+\.md)`/g)].map((m) => m[1] ?? '');
    expect(named.filter((path) => !existsSync(resolve(root, path)))).toEqual([]);
  });

  it('the link check sees links that leave the repository', () => {
    expect(
      relativeLinks('[a](../shared/x.md) [b](https://x.org) [c](docs/api.md#gateway) [d](#x)'),
    ).toEqual(['../shared/x.md', 'docs/api.md']);
  });

  it('no test reads data from outside the repository (a fresh clone has no ../shared)', () => {
    const tests = [...filesUnder('src', '.test.ts'), ...filesUnder('test', '.ts')];
    const outside = tests.filter((f) =>
      /shared\/datasets/.test(readFileSync(resolve(root, f), 'utf8')),
    );
    // This file names the pattern it looks for.
    expect(outside.filter((f) => f !== 'test/readme.test.ts')).toEqual([]);
  });
});
