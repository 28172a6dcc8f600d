/** "90%" of a target's share of the traffic, or "—" when no target has weight. */
export function shareOf(weight: number, targets: readonly { weight: number }[]): string {
  const total = targets.reduce((s, t) => s + Math.max(0, t.weight), 0);
  return total > 0 ? `${Math.round((Math.max(0, weight) * 100) / total)}%` : '—';
}
