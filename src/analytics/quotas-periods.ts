import { InvalidInput } from '../platform/http/errors.js';

/** A billing period: one calendar month in UTC, [start, end). */
export interface Period {
  /** YYYY-MM */
  id: string;
  start: Date;
  end: Date;
}

const PERIOD = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function periodOf(at: Date): Period {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  return monthPeriod(y, m);
}

function monthPeriod(y: number, m: number): Period {
  const start = new Date(Date.UTC(y, m, 1));
  const end = new Date(Date.UTC(y, m + 1, 1));
  return { id: `${String(y).padStart(4, '0')}-${String(m + 1).padStart(2, '0')}`, start, end };
}

/** Parses `YYYY-MM` (400 otherwise). */
export function parsePeriod(id: string, field = 'query.period'): Period {
  const m = PERIOD.exec(id);
  if (!m)
    throw new InvalidInput('period must be YYYY-MM.', { errors: [{ field, message: 'YYYY-MM' }] });
  return monthPeriod(Number(m[1]), Number(m[2]) - 1);
}

/** The period's first day as YYYY-MM-DD (the counters' key). */
export function periodDay(p: Period): string {
  return p.start.toISOString().slice(0, 10);
}
