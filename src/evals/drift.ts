/**
 * Population stability index of a score distribution: Σ (cur − base) · ln(cur / base) over bins
 * cut at the baseline's deciles. Under 0.1 is usually read as stable, over 0.25 as a shift.
 */
export function populationStabilityIndex(
  baseline: readonly number[],
  current: readonly number[],
  bins = 10,
): number {
  if (baseline.length === 0 || current.length === 0) return 0;
  const sorted = [...baseline].sort((a, b) => a - b);
  const edges: number[] = [];
  for (let i = 1; i < bins; i++) edges.push(sorted[Math.floor((i * sorted.length) / bins)] ?? 0);
  const bucket = (v: number): number => {
    let b = 0;
    while (b < edges.length && v >= (edges[b] ?? Infinity)) b++;
    return b;
  };
  const share = (xs: readonly number[]): number[] => {
    const counts = new Array<number>(bins).fill(0);
    for (const x of xs) counts[bucket(x)] = (counts[bucket(x)] ?? 0) + 1;
    // A floor keeps an empty bin from making the index infinite.
    return counts.map((n) => Math.max(n / xs.length, 1e-4));
  };
  const b = share(baseline);
  const c = share(current);
  return b.reduce((sum, bi, i) => {
    const ci = c[i] ?? 1e-4;
    return sum + (ci - bi) * Math.log(ci / bi);
  }, 0);
}

/**
 * Top retrieval scores of answered asks in two windows: the first `window` after start is the
 * baseline, the most recent `window` is compared with it.
 */
export class TopScoreDrift {
  private readonly baseline: number[] = [];
  private readonly recent: number[] = [];
  constructor(private readonly window: number) {}

  observe(score: number): void {
    if (this.baseline.length < this.window) this.baseline.push(score);
    else {
      this.recent.push(score);
      if (this.recent.length > this.window) this.recent.shift();
    }
  }

  /** The PSI of the recent window against the baseline (0 until the recent window has filled). */
  psi(): number {
    return this.recent.length < this.window
      ? 0
      : populationStabilityIndex(this.baseline, this.recent);
  }
}
