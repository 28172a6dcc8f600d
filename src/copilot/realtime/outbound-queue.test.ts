import { describe, expect, it } from 'vitest';
import { OutboundQueue, type Outgoing } from './outbound-queue.js';

const delta = (n: number): Outgoing => ({ kind: 'delta', frame: `d${n}` });
const state = (n: number): Outgoing => ({ kind: 'state', frame: `s${n}` });

function drain(q: OutboundQueue): string[] {
  const out: string[] = [];
  for (let i = q.shift(); i; i = q.shift()) out.push(i.frame);
  return out;
}

describe('OutboundQueue', () => {
  it('drops deltas oldest-first when full and keeps every state event', () => {
    const q = new OutboundQueue(3);
    expect(q.push(delta(1))).toEqual({ ok: true, dropped: 0 });
    expect(q.push(state(1))).toEqual({ ok: true, dropped: 0 });
    expect(q.push(delta(2))).toEqual({ ok: true, dropped: 0 });
    expect(q.push(delta(3))).toEqual({ ok: true, dropped: 1 });
    expect(q.push(state(2))).toEqual({ ok: true, dropped: 1 });
    expect(drain(q)).toEqual(['s1', 'd3', 's2']);
  });

  it('drops a new delta when only state events are queued', () => {
    const q = new OutboundQueue(2);
    q.push(state(1));
    q.push(state(2));
    expect(q.push(delta(1))).toEqual({ ok: true, dropped: 1 });
    expect(drain(q)).toEqual(['s1', 's2']);
  });

  it('refuses a state event when full of state events (the client is too slow)', () => {
    const q = new OutboundQueue(2);
    q.push(state(1));
    q.push(state(2));
    expect(q.push(state(3))).toEqual({ ok: false, dropped: 0 });
    expect(q.length).toBe(2);
  });
});
