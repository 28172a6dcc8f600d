/**
 * Generates the settings table of docs/configuration.md from `settings` in src/config.ts,
 * between the `<!-- settings:start -->` and `<!-- settings:end -->` markers.
 *
 *   npm run docs:settings            rewrite docs/configuration.md
 *   npm run docs:settings -- --check exit 1 when docs/configuration.md is out of date
 *
 * test/readme.test.ts fails when the page's table differs from this output, so a setting
 * added to config.ts without regenerating the page breaks `npm test` (and `npm run check`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { settings } from '../src/config.js';

export const START_MARKER = '<!-- settings:start -->';
export const END_MARKER = '<!-- settings:end -->';
/** The page holding the table, relative to the repository root. */
export const SETTINGS_PAGE = 'docs/configuration.md';

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
export function extractSettingsSection(page: string): string | undefined {
  const start = page.indexOf(START_MARKER);
  const end = page.indexOf(END_MARKER);
  if (start < 0 || end < start) return undefined;
  return page.slice(start + START_MARKER.length, end).trim();
}

/** The page with the section between the markers replaced by the generated table. */
export function renderSettingsPage(page: string): string {
  const start = page.indexOf(START_MARKER);
  const end = page.indexOf(END_MARKER);
  if (start < 0 || end < start)
    throw new Error(`${SETTINGS_PAGE} has no ${START_MARKER} … ${END_MARKER} section`);
  return `${page.slice(0, start + START_MARKER.length)}\n${settingsTable()}\n${page.slice(end)}`;
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;

if (isMain) {
  const pagePath = resolve(dirname(fileURLToPath(import.meta.url)), '..', SETTINGS_PAGE);
  const current = readFileSync(pagePath, 'utf8');
  const next = renderSettingsPage(current);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      process.stderr.write(
        `${SETTINGS_PAGE} settings table is out of date: run \`npm run docs:settings\`\n`,
      );
      process.exit(1);
    }
    process.stdout.write(`${SETTINGS_PAGE} settings table is up to date\n`);
  } else if (next !== current) {
    writeFileSync(pagePath, next);
    process.stdout.write(`${SETTINGS_PAGE} settings table regenerated\n`);
  } else {
    process.stdout.write(`${SETTINGS_PAGE} settings table already up to date\n`);
  }
}
