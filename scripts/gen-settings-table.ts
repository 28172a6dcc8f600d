/**
 * Generates the README's settings table from `settings` in src/config.ts, between the
 * `<!-- settings:start -->` and `<!-- settings:end -->` markers.
 *
 *   npm run docs:settings            rewrite README.md
 *   npm run docs:settings -- --check exit 1 when README.md is out of date
 *
 * test/readme.test.ts fails when the README's table differs from this output, so a setting
 * added to config.ts without regenerating the README breaks `npm test`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { settings } from '../src/config.js';

export const START_MARKER = '<!-- settings:start -->';
export const END_MARKER = '<!-- settings:end -->';

interface SettingDoc {
  description: string;
  secret?: boolean;
  defaultText?: string;
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** The markdown table documenting every setting, in declaration order. */
export function settingsTable(): string {
  const rows = (Object.entries(settings) as [string, SettingDoc][]).map(([name, def]) => {
    const nameCell = def.secret ? `\`${name}\` / \`${name}_FILE\`` : `\`${name}\``;
    const dflt = def.defaultText !== undefined ? `\`${def.defaultText}\`` : 'unset';
    return `| ${nameCell} | ${dflt} | ${def.secret ? 'yes' : 'no'} | ${cell(def.description)} |`;
  });
  return [
    '| Setting | Default | Secret | Description |',
    '| --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/** The text between the markers (trimmed), or undefined when the markers are missing. */
export function extractSettingsSection(readme: string): string | undefined {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start < 0 || end < start) return undefined;
  return readme.slice(start + START_MARKER.length, end).trim();
}

/** The README with the section between the markers replaced by the generated table. */
export function renderReadme(readme: string): string {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start < 0 || end < start)
    throw new Error(`README.md has no ${START_MARKER} … ${END_MARKER} section`);
  return `${readme.slice(0, start + START_MARKER.length)}\n${settingsTable()}\n${readme.slice(end)}`;
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;

if (isMain) {
  const readmePath = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'README.md');
  const current = readFileSync(readmePath, 'utf8');
  const next = renderReadme(current);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      process.stderr.write(
        'README.md settings table is out of date: run `npm run docs:settings`\n',
      );
      process.exit(1);
    }
    process.stdout.write('README.md settings table is up to date\n');
  } else if (next !== current) {
    writeFileSync(readmePath, next);
    process.stdout.write('README.md settings table regenerated\n');
  } else {
    process.stdout.write('README.md settings table already up to date\n');
  }
}
