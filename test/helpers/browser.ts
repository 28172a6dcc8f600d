import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from './serve-process.js';

/** Debian's chromium (`apt-get install chromium`); .ci/run installs it. */
export const CHROMIUM = '/usr/bin/chromium';

/** Browser suites run when chromium is there; RAMPART_BROWSER_TESTS=required makes its absence a failure. */
export const browserTests = {
  available: existsSync(CHROMIUM),
  required: process.env.RAMPART_BROWSER_TESTS === 'required',
};

/** Where screenshots go (gitignored): test-results/console/. */
export const SCREENSHOTS = join(REPO_ROOT, 'test-results', 'console');

/**
 * Headless chromium without network side traffic. Playwright gives each launch a fresh, empty
 * user data directory of its own (it refuses --user-data-dir in `args`).
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

const AXE_SOURCE = readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
);

/**
 * A browser context whose pages carry axe-core (injected as an init script, which the page's
 * CSP does not govern) and record every console error, CSP refusals included.
 */
export async function newConsoleContext(
  browser: Browser,
  viewport = { width: 1280, height: 900 },
): Promise<{ context: BrowserContext; errors: string[] }> {
  const context = await browser.newContext({ viewport });
  await context.addInitScript({ content: AXE_SOURCE });
  const errors: string[] = [];
  context.on('page', (p) => watchErrors(p, errors));
  return { context, errors };
}

function watchErrors(page: Page, errors: string[]): void {
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  /** The first offending elements (CSS selectors) and axe's summary of the first. */
  targets: string[];
  summary: string;
}

/** axe-core's serious and critical violations on the page as it is now (WCAG 2.x A and AA). */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  const found = await page.evaluate(async () => {
    interface AxeNode {
      target: unknown[];
      failureSummary?: string;
    }
    interface AxeResult {
      violations: { id: string; impact: string | null; help: string; nodes: AxeNode[] }[];
    }
    const axe = (globalThis as unknown as { axe: { run(o: unknown): Promise<AxeResult> } }).axe;
    const r = await axe.run({
      runOnly: {
        type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
      },
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
      summary: v.nodes[0]?.failureSummary ?? '',
    }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Writes test-results/console/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** A port free on 127.0.0.1 now (PUBLIC_URL must name the port before the server starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}
