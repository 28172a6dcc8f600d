import type { CheckResult } from '../schemas.js';

/** The case cost at most `max` USD. */
export function costCeiling(costUsd: number, max: number): CheckResult {
  const ok = costUsd <= max;
  return {
    name: 'maxCostUsd',
    pass: ok,
    score: ok ? 1 : 0,
    detail: `${costUsd.toFixed(6)} ≤ ${max}`,
  };
}

/** The case answered within `max` ms. */
export function latencyCeiling(latencyMs: number, max: number): CheckResult {
  const ok = latencyMs <= max;
  return {
    name: 'maxLatencyMs',
    pass: ok,
    score: ok ? 1 : 0,
    detail: `${Math.round(latencyMs)} ≤ ${max}`,
  };
}

/** Agent checks: tools that must and must not have been called, approvals requested. */
export function agentChecks(
  called: readonly string[],
  expect: {
    toolsCalled?: string[] | undefined;
    toolsNotCalled?: string[] | undefined;
    approvalsRequested?: number | undefined;
  },
  approvals: number,
): CheckResult[] {
  const out: CheckResult[] = [];
  if (expect.toolsCalled) {
    const missing = expect.toolsCalled.filter((t) => !called.includes(t));
    out.push({
      name: 'toolsCalled',
      pass: missing.length === 0,
      score: missing.length === 0 ? 1 : 0,
      ...(missing.length ? { detail: `not called: ${missing.join(', ')}` } : {}),
    });
  }
  if (expect.toolsNotCalled) {
    const bad = expect.toolsNotCalled.filter((t) => called.includes(t));
    out.push({
      name: 'toolsNotCalled',
      pass: bad.length === 0,
      score: bad.length === 0 ? 1 : 0,
      ...(bad.length ? { detail: `called: ${bad.join(', ')}` } : {}),
    });
  }
  if (expect.approvalsRequested !== undefined) {
    const ok = approvals === expect.approvalsRequested;
    out.push({
      name: 'approvalsRequested',
      pass: ok,
      score: ok ? 1 : 0,
      detail: `${approvals} requested, expected ${expect.approvalsRequested}`,
    });
  }
  return out;
}
