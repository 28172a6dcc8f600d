/**
 * Integer micro-USD of an exact decimal USD amount (the ledger's numeric text, e.g.
 * "12.0000004999"), rounded half away from zero at the sixth decimal. BigInt arithmetic on the
 * digits: no float ever holds the amount.
 */
export function usdToMicros(decimal: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(decimal.trim());
  if (!m) throw new RangeError(`not a decimal amount: '${decimal}'`);
  const negative = m[1] === '-';
  const whole = BigInt(m[2] ?? '0');
  const frac = (m[3] ?? '').padEnd(7, '0');
  const micros = whole * 1_000_000n + BigInt(frac.slice(0, 6));
  const roundUp = Number(frac[6]) >= 5;
  const abs = roundUp ? micros + 1n : micros;
  return negative ? -abs : abs;
}

/** Adds exact decimals (10 places) as integers of 1e-10 USD. */
export function addDecimals(values: readonly string[]): string {
  let ticks = 0n;
  for (const v of values) {
    const [w = '0', f = ''] = v.replace('-', '').split('.');
    const t = BigInt(w) * 10_000_000_000n + BigInt(f.padEnd(10, '0').slice(0, 10));
    ticks += v.startsWith('-') ? -t : t;
  }
  const neg = ticks < 0n;
  const abs = neg ? -ticks : ticks;
  const whole = abs / 10_000_000_000n;
  const frac = (abs % 10_000_000_000n).toString().padStart(10, '0');
  return `${neg ? '-' : ''}${whole.toString()}.${frac}`;
}
