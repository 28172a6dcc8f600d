import type { GateVerdict, CaseDiff } from './gate.js';
import type { RunResult } from './schemas.js';

const pad = (s: string, n: number): string =>
  s.length >= n ? s.slice(0, n) : s + ' '.repeat(n - s.length);
const fmt = (n: number, d = 3): string => n.toFixed(d);

/** The per-case table and the totals, as printed by `rampart eval run`. */
export function formatRun(result: RunResult, verdict?: GateVerdict): string {
  const idWidth = Math.min(40, Math.max(4, ...result.cases.map((c) => c.id.length)));
  const lines = [
    `dataset ${result.dataset.name}${result.dataset.version !== undefined ? ` v${result.dataset.version}` : ''} (${result.dataset.hash.slice(0, 12)}), ${result.cases.length} cases, repeats ${result.repeats}`,
    `${pad('case', idWidth)}  ${pad('result', 6)}  score  latency_ms  cost_usd  failed checks`,
  ];
  for (const c of result.cases) {
    const status = c.error !== undefined ? 'ERROR' : c.pass ? 'pass' : 'FAIL';
    const failed =
      c.error ??
      c.checks
        .filter((k) => !k.pass)
        .map((k) => `${k.name}${k.detail ? ` (${k.detail})` : ''}`)
        .join('; ');
    lines.push(
      `${pad(c.id, idWidth)}  ${pad(status, 6)}  ${fmt(c.score)}  ${pad(String(Math.round(c.latencyMs)), 10)}  ${fmt(c.costUsd, 6)}  ${failed}`,
    );
  }
  const t = result.totals;
  lines.push(
    `totals: ${t.passed}/${t.cases} passed, ${t.failed} failed, ${t.errored} errored; score ${fmt(t.score)}, pass rate ${fmt(t.passRate)}, cost $${fmt(t.costUsd, 6)}, latency p50 ${Math.round(t.latencyMsP50)} ms p95 ${Math.round(t.latencyMsP95)} ms`,
  );
  if (verdict) {
    lines.push(verdict.ok ? 'gate: PASSED' : `gate: FAILED (${verdict.failures.length})`);
    for (const f of verdict.failures) lines.push(`  ${f.kind}: ${f.message}`);
  }
  return lines.join('\n');
}

/** `rampart eval compare` output: one line per case that changed, then a count of each change. */
export function formatDiff(diffs: readonly CaseDiff[]): string {
  const side = (s: CaseDiff['before']): string =>
    s ? `${s.pass ? 'pass' : 'FAIL'} ${fmt(s.score)}` : '—';
  const changed = diffs.filter((d) => d.change !== 'same');
  const lines = changed.map(
    (d) => `${pad(d.change, 9)}  ${d.id}: ${side(d.before)} -> ${side(d.after)}`,
  );
  const counts = new Map<string, number>();
  for (const d of diffs) counts.set(d.change, (counts.get(d.change) ?? 0) + 1);
  lines.push([...counts].map(([k, n]) => `${k} ${n}`).join(', '));
  return lines.join('\n');
}

const xml = (s: string): string =>
  s.replace(
    /[<>&"']/gu,
    (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[ch] ?? ch,
  );

/** The run as JUnit XML: one testcase per case; a failing case fails, an errored one errors. */
export function junitXml(result: RunResult): string {
  const t = result.totals;
  const cases = result.cases.map((c) => {
    const time = (c.latencyMs / 1000).toFixed(3);
    const open = `    <testcase classname="${xml(result.dataset.name)}" name="${xml(c.id)}" time="${time}">`;
    if (c.error !== undefined)
      return `${open}\n      <error message="${xml(c.error)}"/>\n    </testcase>`;
    if (!c.pass) {
      const msg = c.checks
        .filter((k) => !k.pass)
        .map((k) => `${k.name}: ${k.detail ?? ''}`)
        .join('; ');
      return `${open}\n      <failure message="${xml(msg)}"/>\n    </testcase>`;
    }
    return `${open}</testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites tests="${t.cases}" failures="${t.failed}" errors="${t.errored}">`,
    `  <testsuite name="${xml(result.dataset.name)}" tests="${t.cases}" failures="${t.failed}" errors="${t.errored}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
