import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildConsole,
  INITIAL_JS_BUDGET_BYTES,
  initialJsGzipBytes,
  initialScripts,
} from '../scripts/build-web.js';

// The console builds from a clean tree, keeps its first page's JavaScript within the budget of
// issue #27 (250 KB gzipped), splits every page into its own chunk, and puts no inline script
// in index.html (the CSP would refuse it).
describe('web console build', () => {
  const out = mkdtempSync(join(tmpdir(), 'rampart-web-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('builds with the initial JavaScript under 250 KB gzipped and pages split out', async () => {
    await buildConsole(out);
    const bytes = initialJsGzipBytes(out);
    console.log(`console initial JavaScript: ${(bytes / 1024).toFixed(1)} KB gzipped`);
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(INITIAL_JS_BUDGET_BYTES);
    const initial = initialScripts(out).map((s) => s.file);
    const chunks = readdirSync(join(out, 'assets'));
    for (const page of ['Home', 'Documents', 'Chat', 'Gateway', 'Keys', 'Audit']) {
      const chunk = chunks.find((c) => c.startsWith(`${page}-`) && c.endsWith('.js'));
      expect(chunk, `${page} has its own chunk`).toBeDefined();
      expect(initial).not.toContain(`assets/${chunk}`);
    }
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
  }, 180_000);
});
