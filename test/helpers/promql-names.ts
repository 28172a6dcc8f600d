// The metric names a PromQL expression reads, for checking dashboards and alert rules against
// what Rampart exports. Not a full PromQL parser: strings, label matchers, ranges, grouping
// clauses, Grafana variables and numbers are removed, then every identifier that is not a
// function call or a keyword is a metric name.
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
    .replace(/(^|[^\w:])\d+(\.\d+)?(e[+-]?\d+)?/gi, '$1 ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?/g)) {
    const [token, call] = [m[0].replace(/\s*\($/, ''), m[1]];
    if (call || KEYWORDS.has(token)) continue;
    names.add(token);
  }
  return [...names];
}

/**
 * Metric names a /metrics body offers: each family from its `# TYPE` line, with the series
 * names a histogram (_bucket, _sum, _count) or summary (_sum, _count) adds.
 */
export function exportedNames(body: string): { families: Map<string, string>; names: Set<string> } {
  const families = new Map<string, string>();
  const names = new Set<string>();
  for (const m of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [name, type] = [m[1] ?? '', m[2] ?? ''];
    families.set(name, type);
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return { families, names };
}
