import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { settings } from '../src/config.js';
import {
  END_MARKER,
  START_MARKER,
  extractSettingsSection,
  renderReadme,
  settingsTable,
} from '../scripts/gen-settings-table.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
};

describe('README', () => {
  it('documents every setting exactly as src/config.ts declares it (run `npm run docs:settings`)', () => {
    expect(extractSettingsSection(readme)).toBe(settingsTable());
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
    const out = renderReadme(stale);
    expect(out).toBe(`# T\n\n${START_MARKER}\n${settingsTable()}\n${END_MARKER}\n\nafter\n`);
    expect(renderReadme(out)).toBe(out);
  });

  it('gives the two-command quick start, and both commands exist in package.json', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
    expect(pkg.scripts.start).toContain('serve');
    expect(pkg.scripts.test).toBeDefined();
  });
});
