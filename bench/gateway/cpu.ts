import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of processes from /proc (Linux; elsewhere every figure reads 0 and the bench prints
 * '—'): what a request costs in CPU whatever else the machine is doing, unlike req/s, which
 * moves with the load generator and the other processes sharing the cores.
 */
const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux architecture Node runs on

interface Stat {
  pid: number;
  comm: string;
  ppid: number;
  cpuSeconds: number;
}

function stat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    // After "pid (comm) ": state, ppid, …; utime and stime are fields 14 and 15 of the line,
    // cutime and cstime (children it has reaped) 16 and 17. A process that exits takes its CPU
    // out of the live sum and into its parent's cutime/cstime: counting both keeps the total
    // monotonic when, say, a PostgreSQL backend ends during a window.
    const f = text.slice(close + 2).split(' ');
    return {
      pid,
      comm,
      ppid: Number(f[1]),
      cpuSeconds:
        (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICKS_PER_SECOND,
    };
  } catch {
    return undefined;
  }
}

function all(): Stat[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: Stat[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const s = stat(Number(e));
    if (s) out.push(s);
  }
  return out;
}

/** CPU seconds used so far by `pid` and every process below it (cluster workers included). */
export function treeCpuSeconds(pid: number): number {
  const stats = all();
  const inTree = new Set([pid]);
  // Children may be listed before their parents: repeat until no process joins.
  for (let grew = true; grew;) {
    grew = false;
    for (const s of stats)
      if (!inTree.has(s.pid) && inTree.has(s.ppid)) {
        inTree.add(s.pid);
        grew = true;
      }
  }
  return stats.filter((s) => inTree.has(s.pid)).reduce((n, s) => n + s.cpuSeconds, 0);
}

/** CPU seconds used so far by every process whose name is one of `names` (database servers). */
export function commandCpuSeconds(names: readonly string[]): number {
  return all()
    .filter((s) => names.some((n) => s.comm.startsWith(n)))
    .reduce((n, s) => n + s.cpuSeconds, 0);
}
